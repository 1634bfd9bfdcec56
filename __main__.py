"""Load the stack configuration, build the platform, export what operators need."""

import pulumi

import config
from components.platform import RainbondPlatform

platform = RainbondPlatform("rainbond", config.load())

pulumi.export("consoleUrl", platform.console_url)
pulumi.export("gatewayVip", platform.gateway_vip)
pulumi.export("apiEndpoint", platform.api_endpoint)
pulumi.export("kubeconfig", platform.kubeconfig)
pulumi.export("database", platform.database)
pulumi.export("registry", platform.registry)
pulumi.export("preflight", platform.preflight)

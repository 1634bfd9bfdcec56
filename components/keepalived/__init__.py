"""A keepalived VRRP instance holding one address on a group of nodes (gateway VIP, API VIP)."""

from .vip import keepalived_vip

__all__ = ["keepalived_vip"]

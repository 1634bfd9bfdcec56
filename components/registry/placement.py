"""Where the managed registry keeps its images, remembered so that moving it is never silent.

`config check` sees only the new stack file. This resource records the registry's node and storage
in the state; its check, which runs on every preview and up before the registry's steps, compares
them with the new ones. Giving the role registry to another node while the images are on the old
node's disk would start an empty registry there: refused, naming the key that says the images were
copied (docs/operations.md, "Moving the registry").
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from ..shared.dynamic import pickler_restored
from . import files


class RegistryPlacement(dynamic.Resource, module="registry", name="Placement"):
    """`storage` is `filesystem` or `s3`; `moved_from` is registry.movedFrom."""

    def __init__(
        self,
        name: str,
        *,
        node: str,
        storage: str,
        moved_from: str | None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {"node": node, "storage": storage, "movedFrom": moved_from}
        with pickler_restored():
            super().__init__(_provider(files.DATA_DIR), name, props, opts)


def _provider(data_dir: str) -> dynamic.ResourceProvider:
    """The check's provider, pickled by value: standard library and SDK only (see drift.py)."""

    class Provider(dynamic.ResourceProvider):
        INPUTS = ("node", "storage", "movedFrom")

        def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
            old, new = olds.get("node"), news.get("node")
            # S3 storage is shared by wherever the registry runs; a first deployment has no olds.
            stays = not old or old == new or olds.get("storage") != "filesystem"
            if stays or news.get("movedFrom") == old:
                return dynamic.CheckResult(news, [])
            reason = (
                f"the managed registry's images are on {old} ({data_dir}); giving the role"
                f" registry to {new} would start an empty registry there. Copy {data_dir} from"
                f" {old} to {new} and set registry.movedFrom: {old} (docs/operations.md, 'Moving"
                f" the registry'), or give the role registry back to {old}. The registry was not"
                " changed."
            )
            return dynamic.CheckResult(news, [dynamic.CheckFailure("node", reason)])

        def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
            return dynamic.CreateResult("registry-placement", self.given(props))

        def given(self, props: dict[str, Any]) -> dict[str, Any]:
            return {key: props.get(key) for key in self.INPUTS}

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
            changed = any(olds.get(key) != news.get(key) for key in self.INPUTS)
            return dynamic.DiffResult(changes=changed, replaces=[])

        def update(
            self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
        ) -> dynamic.UpdateResult:
            return dynamic.UpdateResult(self.given(news))

    return Provider()

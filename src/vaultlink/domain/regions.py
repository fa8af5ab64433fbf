"""The region catalog (DESIGN.md §7): name, geo code, partition, pair, services."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vaultlink.errors import InvalidInput, UnknownRegion

SERVICES = ("backup", "backup-gateway")


@dataclass(frozen=True)
class Partition:
    name: str
    service_prefix: str
    dns_suffix: str


@dataclass(frozen=True)
class Region:
    name: str
    display_name: str
    geo: str
    partition: Partition
    paired: str | None
    services: dict[str, bool] = field(default_factory=dict)

    def offers(self, service: str) -> bool:
        return bool(self.services.get(service, False))

    def service_name(self, service: str) -> str:
        """``<prefix>.<region>.<service>`` as AWS names endpoint services."""
        return f"{self.partition.service_prefix}.{self.name}.{service}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "geo": self.geo,
            "partition": self.partition.name,
            "paired_region": self.paired,
            "service_prefix": self.partition.service_prefix,
            "services": {s: self.offers(s) for s in SERVICES},
            "service_names": {s: self.service_name(s) for s in SERVICES if self.offers(s)},
        }


@dataclass(frozen=True)
class Catalog:
    name: str
    regions: dict[str, Region]

    def get(self, name: str, field_name: str = "region") -> Region:
        region = self.regions.get(name)
        if region is None:
            choices = ", ".join(sorted(self.regions)[:12])
            more = "…" if len(self.regions) > 12 else ""
            raise UnknownRegion(
                f"unknown region {name!r}; choose one of {choices}{more} (`vaultlink region list`).",
                field=field_name,
            )
        return region

    def default_partition(self) -> Partition:
        return next(iter(self.regions.values())).partition

    def list(self) -> list[Region]:
        return list(self.regions.values())


def parse_catalog(data: dict[str, Any]) -> Catalog:
    try:
        parts = {
            name: Partition(name, p["service_prefix"], p.get("dns_suffix", ""))
            for name, p in data["partitions"].items()
        }
        regions: dict[str, Region] = {}
        for r in data["regions"]:
            regions[r["name"]] = Region(
                name=r["name"],
                display_name=r.get("display_name", r["name"]),
                geo=r.get("geo", r["name"]),
                partition=parts[r["partition"]],
                paired=r.get("paired"),
                services=dict(r.get("services", {"backup": True, "backup-gateway": True})),
            )
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"region catalog is malformed: missing or wrong {exc}", field="regions") from None
    if not regions:
        raise InvalidInput("region catalog has no regions", field="regions")
    for r in regions.values():
        if r.paired and r.paired not in regions:
            raise InvalidInput(f"region {r.name}: paired region {r.paired!r} is not in the catalog", field="regions")
    return Catalog(name=str(data.get("name", "custom")), regions=regions)


PRESETS = ("default", "aws", "azure")


def load_catalog(spec: str) -> Catalog:
    """``default``, ``aws``, ``azure`` or a path to a catalog JSON file."""
    if spec in PRESETS:
        text = resources.files("vaultlink.domain").joinpath("presets", f"{spec}.json").read_text(encoding="utf-8")
    else:
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except OSError:
            raise InvalidInput(
                f"region catalog {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a readable file",
                field="regions",
            ) from None
    try:
        return parse_catalog(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"region catalog {spec!r} is not valid JSON: {exc}", field="regions") from None

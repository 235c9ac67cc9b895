"""The agency directory: loaded from ``workflows/agencies.toml``; lanes name agencies by code or alias."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Agency
from ..text import msg
from . import reference
from .errors import InvalidInput


def load_agencies(session: Session, path: Path) -> list[Agency]:
    """Insert or update every agency of the TOML file (agencies are never deleted: tasks name them)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    entries = data.get("agency", [])
    seen_names: dict[str, str] = {}
    agencies = []
    for index, entry in enumerate(entries):
        code = entry.get("code")
        if not code or not entry.get("name_zh") or not entry.get("name_en"):
            raise InvalidInput(
                msg("{path}: agency #{value} needs code, name_zh and name_en", path=path, value=index + 1),
                {f"agency[{index}]": [msg("code, name_zh and name_en are required")]},
            )
        for name in (code, *entry.get("aliases", [])):
            if name in seen_names and seen_names[name] != code:
                raise InvalidInput(
                    msg(
                        "{path}: lane name {name!r} is used by {value} and {code}",
                        path=path,
                        name=name,
                        value=seen_names[name],
                        code=code,
                    ),
                    {f"agency[{index}]": [msg("duplicate lane name {name!r}", name=name)]},
                )
            seen_names[name] = code
        agency = session.get(Agency, code) or Agency(code=code)
        agency.name_zh = entry["name_zh"]
        agency.name_en = entry["name_en"]
        agency.aliases = list(entry.get("aliases", []))
        session.add(agency)
        agencies.append(agency)
    session.flush()
    reference.bump(session, "agencies")
    return agencies


def lane_agencies(session: Session) -> Mapping[str, str]:
    """Every name a lane may carry (code or alias) mapped to the agency code (cached per process,
    see reference.py: do not change the mapping)."""
    return reference.cached(session, "agencies", _read_lane_agencies)


def _read_lane_agencies(session: Session) -> Mapping[str, str]:
    names: dict[str, str] = {}
    for agency in session.scalars(select(Agency)):
        names[agency.code] = agency.code
        for alias in agency.aliases or []:
            names[alias] = agency.code
    return MappingProxyType(names)


def agency_names(session: Session) -> Mapping[str, tuple[str, str]]:
    """Each agency's names, Chinese and English, by code (cached per process, see reference.py)."""
    return reference.cached(session, "agency names", _read_agency_names)


def _read_agency_names(session: Session) -> Mapping[str, tuple[str, str]]:
    rows = session.execute(select(Agency.code, Agency.name_zh, Agency.name_en).order_by(Agency.code))
    return MappingProxyType({code: (name_zh, name_en) for code, name_zh, name_en in rows})


def list_agencies(session: Session) -> list[Agency]:
    return list(session.scalars(select(Agency).order_by(Agency.code)))

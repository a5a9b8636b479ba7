"""EU member states: names and official languages, for defaults and audience filters."""

from __future__ import annotations

# ISO 3166-1 alpha-2 (EL is the EU's code for Greece, as the EP data uses it) -> (name, languages).
EU_COUNTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "AT": ("Austria", ("de",)),
    "BE": ("Belgium", ("nl", "fr", "de")),
    "BG": ("Bulgaria", ("bg",)),
    "HR": ("Croatia", ("hr",)),
    "CY": ("Cyprus", ("el",)),
    "CZ": ("Czechia", ("cs",)),
    "DK": ("Denmark", ("da",)),
    "EE": ("Estonia", ("et",)),
    "FI": ("Finland", ("fi", "sv")),
    "FR": ("France", ("fr",)),
    "DE": ("Germany", ("de",)),
    "GR": ("Greece", ("el",)),
    "HU": ("Hungary", ("hu",)),
    "IE": ("Ireland", ("en", "ga")),
    "IT": ("Italy", ("it",)),
    "LV": ("Latvia", ("lv",)),
    "LT": ("Lithuania", ("lt",)),
    "LU": ("Luxembourg", ("lb", "fr", "de")),
    "MT": ("Malta", ("mt", "en")),
    "NL": ("Netherlands", ("nl",)),
    "PL": ("Poland", ("pl",)),
    "PT": ("Portugal", ("pt",)),
    "RO": ("Romania", ("ro",)),
    "SK": ("Slovakia", ("sk",)),
    "SI": ("Slovenia", ("sl",)),
    "ES": ("Spain", ("es",)),
    "SE": ("Sweden", ("sv",)),
}

_BY_NAME = {name.lower(): code for code, (name, _langs) in EU_COUNTRIES.items()}
_ALIASES = {"EL": "GR", "UK": "GB"}


def normalise_country_code(value: str | None) -> str | None:
    """Return the ISO code for a code or an English country name, or None when unknown."""
    if not value:
        return None
    text = value.strip()
    upper = _ALIASES.get(text.upper(), text.upper())
    if upper in EU_COUNTRIES:
        return upper
    return _BY_NAME.get(text.lower())


def default_languages(country_code: str | None) -> list[str]:
    """The official languages of a member state, or English when the country is unknown."""
    if country_code and country_code in EU_COUNTRIES:
        return list(EU_COUNTRIES[country_code][1])
    return ["en"]


def country_name(country_code: str | None) -> str:
    if country_code and country_code in EU_COUNTRIES:
        return EU_COUNTRIES[country_code][0]
    return country_code or ""

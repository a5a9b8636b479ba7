"""The table behind contacts.address: per language, per role and per grammatical gender, the forms
a letter greets and names its recipient with. The choices are explained in contacts.address.

Every entry is a tuple of candidate templates, tried in order: the first whose placeholders all have
a value for the contact is used, and the language's neutral form is always appended as the last
resort, so no form is ever rendered with a gap where a name should be.

Placeholders, salutations: ``{family}`` the family name; ``{full}`` given and family name, or the
display name when no family name is recorded; ``{given_family}`` given and family name only when a
family name is recorded; ``{hon}`` the English courtesy title (Ms, Mr, Dr); ``{position}`` the
recorded position (English data, so English forms only). Address lines also have ``{inst}``, the
institution in the language ("Commission européenne"), and ``{inst_of}``, the same as a complement
of a title ("de la Commission européenne").
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Grammatical gender of the forms: female, male, unknown (never guessed from a given name).
F, M, X = "f", "m", "x"
GENDERS = (F, M, X)

MEP = "mep"
MINISTER = "minister"
PRESIDENT = "president"  # presides over a body: the Commission, the European Council, the EP
VICE_PRESIDENT = "vice_president"
OTHER = "other"
# A head of state: only Dutch and Polish use another word than for the chair of a body
# (president / prezydent vs voorzitter / przewodniczący); other languages use PRESIDENT's forms.
STATE_PRESIDENT = "state_president"
STATE_VICE_PRESIDENT = "state_vice_president"
ROLES = (MEP, MINISTER, PRESIDENT, VICE_PRESIDENT, OTHER)
FALLBACK_ROLE = {STATE_PRESIDENT: PRESIDENT, STATE_VICE_PRESIDENT: VICE_PRESIDENT}

DEFAULT_LANGUAGE = "en"

# The names templates may use (see the module doc).
PLACEHOLDERS = frozenset({"family", "full", "given_family", "hon", "position", "inst", "inst_of"})

# Institutions whose name the address line translates, by the lower-case English name.
EUROPEAN_COMMISSION = "european commission"
EUROPEAN_COUNCIL = "european council"
EUROPEAN_PARLIAMENT = "european parliament"
COUNCIL_OF_THE_EU = "council of the european union"
INSTITUTIONS = (COUNCIL_OF_THE_EU, EUROPEAN_COMMISSION, EUROPEAN_COUNCIL, EUROPEAN_PARLIAMENT)

Candidates = tuple[str, ...]
Forms = dict[str, Candidates]  # gender -> candidates


def each(*candidates: str) -> Forms:
    """The same candidates whatever the gender."""
    return {F: candidates, M: candidates, X: candidates}


def gendered(f: str | Candidates, m: str | Candidates, x: str | Candidates = ()) -> Forms:
    """Candidates per gender; an empty x leaves the unknown gender to the neutral form."""

    def as_tuple(value: str | Candidates) -> Candidates:
        return (value,) if isinstance(value, str) else value

    return {F: as_tuple(f), M: as_tuple(m), X: as_tuple(x)}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def named(prefix: str, description: str = "", no_name: str = "") -> Candidates:
    """'{prefix} {full}, {description}', then what stands without a name."""
    name = f"{prefix} {{full}}" if prefix else "{full}"
    first = f"{name}, {description}" if description else name
    return (first, no_name) if no_name else (first,)


def office(prefix: str, title: str) -> Candidates:
    """A presiding office: '{prefix} {full}, {title} {inst_of}', shorter forms after it."""
    name = f"{prefix} {{full}}" if prefix else "{full}"
    return (
        f"{name}, {title} {{inst_of}}",
        f"{name}, {title}",
        f"{_cap(title)} {{inst_of}}",
        _cap(title),
    )


# For a gendered title and an unknown gender: the person and the institution.
OFFICE_NEUTRAL: Candidates = ("{full}, {inst}", "{full}", "{inst}")


@dataclass(frozen=True)
class LanguageRules:
    salutations: dict[str, Forms]
    address_lines: dict[str, Forms]
    # Last resorts: the greeting and the address line when nothing better can be said.
    neutral_salutation: str
    neutral_address: str
    # Institution key -> (name, name as the complement of a title).
    institutions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # What {position} means when the contact has none recorded (English only).
    default_positions: dict[str, str] = field(default_factory=dict)


_EN_NAMED = ("Dear {hon} {family},", "Dear {given_family},", "Dear {position},", "Dear {full},")
_EN_ADDRESS = (
    "{hon} {full}, {position}",
    "{full}, {position}",
    "{hon} {full}",
    "{full}",
    "{position}",
)

EN = LanguageRules(
    salutations={
        MEP: each(*_EN_NAMED),
        MINISTER: each("Dear Minister,"),
        PRESIDENT: each("Dear President {family},", "Dear {position},", "Dear President,"),
        VICE_PRESIDENT: each(
            "Dear Vice-President {family},", "Dear {position},", "Dear Vice-President,"
        ),
        OTHER: each(*_EN_NAMED),
    },
    address_lines={role: each(*_EN_ADDRESS) for role in ROLES},
    neutral_salutation="Dear Sir or Madam,",
    neutral_address="Sir or Madam",
    institutions={
        EUROPEAN_COMMISSION: ("European Commission", "of the European Commission"),
        EUROPEAN_COUNCIL: ("European Council", "of the European Council"),
        EUROPEAN_PARLIAMENT: ("European Parliament", "of the European Parliament"),
        COUNCIL_OF_THE_EU: (
            "Council of the European Union",
            "of the Council of the European Union",
        ),
    },
    default_positions={
        MEP: "Member of the European Parliament",
        MINISTER: "Minister",
        PRESIDENT: "President",
        VICE_PRESIDENT: "Vice-President",
    },
)

FR = LanguageRules(
    salutations={
        MEP: gendered(
            "Madame la Députée,",
            "Monsieur le Député,",
            "Madame la Députée, Monsieur le Député,",
        ),
        MINISTER: gendered(
            "Madame la Ministre,",
            "Monsieur le Ministre,",
            "Madame la Ministre, Monsieur le Ministre,",
        ),
        PRESIDENT: gendered(
            "Madame la Présidente,",
            "Monsieur le Président,",
            "Madame la Présidente, Monsieur le Président,",
        ),
        VICE_PRESIDENT: gendered(
            "Madame la Vice-Présidente,",
            "Monsieur le Vice-Président,",
            "Madame la Vice-Présidente, Monsieur le Vice-Président,",
        ),
        OTHER: gendered("Madame,", "Monsieur,"),
    },
    address_lines={
        MEP: gendered(
            named("Madame", "députée au Parlement européen", "Madame la Députée"),
            named("Monsieur", "député au Parlement européen", "Monsieur le Député"),
            named("", "membre du Parlement européen", "Membre du Parlement européen"),
        ),
        MINISTER: gendered(
            named("Madame", "ministre", "Madame la Ministre"),
            named("Monsieur", "ministre", "Monsieur le Ministre"),
            named("", "ministre"),
        ),
        PRESIDENT: gendered(
            office("Madame", "présidente"), office("Monsieur", "président"), OFFICE_NEUTRAL
        ),
        VICE_PRESIDENT: gendered(
            office("Madame", "vice-présidente"),
            office("Monsieur", "vice-président"),
            OFFICE_NEUTRAL,
        ),
        OTHER: gendered(named("Madame"), named("Monsieur"), named("")),
    },
    neutral_salutation="Madame, Monsieur,",
    neutral_address="Madame, Monsieur",
    institutions={
        EUROPEAN_COMMISSION: ("Commission européenne", "de la Commission européenne"),
        EUROPEAN_COUNCIL: ("Conseil européen", "du Conseil européen"),
        EUROPEAN_PARLIAMENT: ("Parlement européen", "du Parlement européen"),
        COUNCIL_OF_THE_EU: ("Conseil de l'Union européenne", "du Conseil de l'Union européenne"),
    },
)

_DE_NEUTRAL_NAMED = "Guten Tag {full},"

DE = LanguageRules(
    salutations={
        MEP: gendered(
            ("Sehr geehrte Frau Abgeordnete {family},", "Sehr geehrte Frau Abgeordnete,"),
            ("Sehr geehrter Herr Abgeordneter {family},", "Sehr geehrter Herr Abgeordneter,"),
            _DE_NEUTRAL_NAMED,
        ),
        MINISTER: gendered(
            "Sehr geehrte Frau Ministerin,", "Sehr geehrter Herr Minister,", _DE_NEUTRAL_NAMED
        ),
        PRESIDENT: gendered(
            "Sehr geehrte Frau Präsidentin,", "Sehr geehrter Herr Präsident,", _DE_NEUTRAL_NAMED
        ),
        VICE_PRESIDENT: gendered(
            "Sehr geehrte Frau Vizepräsidentin,",
            "Sehr geehrter Herr Vizepräsident,",
            _DE_NEUTRAL_NAMED,
        ),
        OTHER: gendered(
            ("Sehr geehrte Frau {family},", _DE_NEUTRAL_NAMED),
            ("Sehr geehrter Herr {family},", _DE_NEUTRAL_NAMED),
            _DE_NEUTRAL_NAMED,
        ),
    },
    # The address is in the accusative: "Herrn".
    address_lines={
        MEP: gendered(
            ("Frau Abgeordnete {full}", "Frau Abgeordnete"),
            ("Herrn Abgeordneten {full}", "Herrn Abgeordneten"),
            named(
                "", "Mitglied des Europäischen Parlaments", "Mitglied des Europäischen Parlaments"
            ),
        ),
        MINISTER: gendered(
            ("Frau Ministerin {full}", "Frau Ministerin"),
            ("Herrn Minister {full}", "Herrn Minister"),
            named(""),
        ),
        PRESIDENT: gendered(
            office("Frau", "Präsidentin"), office("Herrn", "Präsident"), OFFICE_NEUTRAL
        ),
        VICE_PRESIDENT: gendered(
            office("Frau", "Vizepräsidentin"), office("Herrn", "Vizepräsident"), OFFICE_NEUTRAL
        ),
        OTHER: gendered(named("Frau"), named("Herrn"), named("")),
    },
    neutral_salutation="Sehr geehrte Damen und Herren,",
    neutral_address="Damen und Herren",
    institutions={
        EUROPEAN_COMMISSION: ("Europäische Kommission", "der Europäischen Kommission"),
        EUROPEAN_COUNCIL: ("Europäischer Rat", "des Europäischen Rates"),
        EUROPEAN_PARLIAMENT: ("Europäisches Parlament", "des Europäischen Parlaments"),
        COUNCIL_OF_THE_EU: ("Rat der Europäischen Union", "des Rates der Europäischen Union"),
    },
)

# Spanish closes the salutation with a colon (Diccionario panhispánico de dudas).
_ES_NEUTRAL_NAMED = "Estimado/a {full}:"

ES = LanguageRules(
    salutations={
        MEP: gendered("Estimada señora diputada:", "Estimado señor diputado:", _ES_NEUTRAL_NAMED),
        MINISTER: gendered(
            "Estimada señora ministra:", "Estimado señor ministro:", _ES_NEUTRAL_NAMED
        ),
        PRESIDENT: gendered(
            "Estimada señora presidenta:", "Estimado señor presidente:", _ES_NEUTRAL_NAMED
        ),
        VICE_PRESIDENT: gendered(
            "Estimada señora vicepresidenta:", "Estimado señor vicepresidente:", _ES_NEUTRAL_NAMED
        ),
        OTHER: gendered(
            ("Estimada señora {family}:", "Estimada señora:"),
            ("Estimado señor {family}:", "Estimado señor:"),
            _ES_NEUTRAL_NAMED,
        ),
    },
    address_lines={
        MEP: gendered(
            named("Sra.", "diputada al Parlamento Europeo", "Diputada al Parlamento Europeo"),
            named("Sr.", "diputado al Parlamento Europeo", "Diputado al Parlamento Europeo"),
            named("", "miembro del Parlamento Europeo", "Miembro del Parlamento Europeo"),
        ),
        MINISTER: gendered(
            named("Sra.", "ministra", "Señora ministra"),
            named("Sr.", "ministro", "Señor ministro"),
            named(""),
        ),
        PRESIDENT: gendered(
            office("Sra.", "presidenta"), office("Sr.", "presidente"), OFFICE_NEUTRAL
        ),
        VICE_PRESIDENT: gendered(
            office("Sra.", "vicepresidenta"), office("Sr.", "vicepresidente"), OFFICE_NEUTRAL
        ),
        OTHER: gendered(named("Sra."), named("Sr."), named("")),
    },
    neutral_salutation="Estimado/a señor/a:",
    neutral_address="Señor/a",
    institutions={
        EUROPEAN_COMMISSION: ("Comisión Europea", "de la Comisión Europea"),
        EUROPEAN_COUNCIL: ("Consejo Europeo", "del Consejo Europeo"),
        EUROPEAN_PARLIAMENT: ("Parlamento Europeo", "del Parlamento Europeo"),
        COUNCIL_OF_THE_EU: ("Consejo de la Unión Europea", "del Consejo de la Unión Europea"),
    },
)

# "Gentile", "Onorevole", "Presidente" and "Vicepresidente" are the same for women and men.
IT = LanguageRules(
    salutations={
        MEP: gendered(
            ("Gentile Onorevole {family},", "Gentile Onorevole,"),
            ("Egregio Onorevole {family},", "Egregio Onorevole,"),
            ("Gentile Onorevole {family},", "Gentile Onorevole,"),
        ),
        MINISTER: gendered("Gentile Ministra,", "Egregio Ministro,", "Gentile {full},"),
        PRESIDENT: gendered("Gentile Presidente,", "Egregio Presidente,", "Gentile Presidente,"),
        VICE_PRESIDENT: gendered(
            "Gentile Vicepresidente,", "Egregio Vicepresidente,", "Gentile Vicepresidente,"
        ),
        OTHER: gendered(
            ("Gentile Signora {family},", "Gentile Signora,"),
            ("Egregio Signor {family},", "Egregio Signore,"),
            "Gentile {full},",
        ),
    },
    address_lines={
        MEP: gendered(
            named("On.", "deputata al Parlamento europeo", "Deputata al Parlamento europeo"),
            named("On.", "deputato al Parlamento europeo", "Deputato al Parlamento europeo"),
            named("On.", "membro del Parlamento europeo", "Membro del Parlamento europeo"),
        ),
        MINISTER: gendered(
            named("Sig.ra", "ministra", "Signora Ministra"),
            named("Sig.", "ministro", "Signor Ministro"),
            named(""),
        ),
        PRESIDENT: gendered(
            office("Sig.ra", "presidente"), office("Sig.", "presidente"), office("", "presidente")
        ),
        VICE_PRESIDENT: gendered(
            office("Sig.ra", "vicepresidente"),
            office("Sig.", "vicepresidente"),
            office("", "vicepresidente"),
        ),
        OTHER: gendered(named("Sig.ra"), named("Sig."), named("")),
    },
    neutral_salutation="Gentili Signore e Signori,",
    neutral_address="Gentili Signore e Signori",
    institutions={
        EUROPEAN_COMMISSION: ("Commissione europea", "della Commissione europea"),
        EUROPEAN_COUNCIL: ("Consiglio europeo", "del Consiglio europeo"),
        EUROPEAN_PARLIAMENT: ("Parlamento europeo", "del Parlamento europeo"),
        COUNCIL_OF_THE_EU: ("Consiglio dell'Unione europea", "del Consiglio dell'Unione europea"),
    },
)

# Dutch greets an office by its name for everyone ("Geachte minister,", Taalunie), and "Geachte"
# takes a full name when the gender is unknown.
_NL_NAMED = gendered(
    ("Geachte mevrouw {family},", "Geachte mevrouw,"),
    ("Geachte heer {family},", "Geachte heer,"),
    "Geachte {full},",
)

NL = LanguageRules(
    salutations={
        MEP: _NL_NAMED,
        MINISTER: each("Geachte minister,"),
        PRESIDENT: each("Geachte voorzitter,"),
        VICE_PRESIDENT: each("Geachte vicevoorzitter,"),
        STATE_PRESIDENT: each("Geachte president,"),
        STATE_VICE_PRESIDENT: each("Geachte vicepresident,"),
        OTHER: _NL_NAMED,
    },
    address_lines={
        MEP: gendered(
            named("Mevrouw", "lid van het Europees Parlement", "Lid van het Europees Parlement"),
            named("De heer", "lid van het Europees Parlement", "Lid van het Europees Parlement"),
            named("", "lid van het Europees Parlement", "Lid van het Europees Parlement"),
        ),
        MINISTER: gendered(
            named("Mevrouw", "minister", "De minister"),
            named("De heer", "minister", "De minister"),
            named("", "minister", "De minister"),
        ),
        PRESIDENT: gendered(
            office("Mevrouw", "voorzitter"),
            office("De heer", "voorzitter"),
            office("", "voorzitter"),
        ),
        VICE_PRESIDENT: gendered(
            office("Mevrouw", "vicevoorzitter"),
            office("De heer", "vicevoorzitter"),
            office("", "vicevoorzitter"),
        ),
        STATE_PRESIDENT: gendered(
            office("Mevrouw", "president"), office("De heer", "president"), office("", "president")
        ),
        STATE_VICE_PRESIDENT: gendered(
            office("Mevrouw", "vicepresident"),
            office("De heer", "vicepresident"),
            office("", "vicepresident"),
        ),
        OTHER: gendered(named("Mevrouw"), named("De heer"), named("")),
    },
    neutral_salutation="Geachte heer of mevrouw,",
    neutral_address="De heer of mevrouw",
    institutions={
        EUROPEAN_COMMISSION: ("Europese Commissie", "van de Europese Commissie"),
        EUROPEAN_COUNCIL: ("Europese Raad", "van de Europese Raad"),
        EUROPEAN_PARLIAMENT: ("Europees Parlement", "van het Europees Parlement"),
        COUNCIL_OF_THE_EU: ("Raad van de Europese Unie", "van de Raad van de Europese Unie"),
    },
)

# Polish: the title in the vocative, never the surname; "Szanowni Państwo," is the neutral form.
PL = LanguageRules(
    salutations={
        MEP: gendered("Szanowna Pani Poseł,", "Szanowny Panie Pośle,"),
        MINISTER: gendered("Szanowna Pani Minister,", "Szanowny Panie Ministrze,"),
        PRESIDENT: gendered("Szanowna Pani Przewodnicząca,", "Szanowny Panie Przewodniczący,"),
        VICE_PRESIDENT: gendered(
            "Szanowna Pani Wiceprzewodnicząca,", "Szanowny Panie Wiceprzewodniczący,"
        ),
        STATE_PRESIDENT: gendered("Szanowna Pani Prezydent,", "Szanowny Panie Prezydencie,"),
        STATE_VICE_PRESIDENT: gendered(
            "Szanowna Pani Wiceprezydent,", "Szanowny Panie Wiceprezydencie,"
        ),
        OTHER: gendered("Szanowna Pani,", "Szanowny Panie,"),
    },
    address_lines={
        MEP: gendered(
            named("Pani", "poseł do Parlamentu Europejskiego", "Poseł do Parlamentu Europejskiego"),
            named("Pan", "poseł do Parlamentu Europejskiego", "Poseł do Parlamentu Europejskiego"),
            named("", "poseł do Parlamentu Europejskiego", "Poseł do Parlamentu Europejskiego"),
        ),
        MINISTER: gendered(
            named("Pani", "minister", "Pani Minister"),
            named("Pan", "minister", "Pan Minister"),
            named("", "minister"),
        ),
        PRESIDENT: gendered(
            office("Pani", "przewodnicząca"), office("Pan", "przewodniczący"), OFFICE_NEUTRAL
        ),
        VICE_PRESIDENT: gendered(
            office("Pani", "wiceprzewodnicząca"),
            office("Pan", "wiceprzewodniczący"),
            OFFICE_NEUTRAL,
        ),
        STATE_PRESIDENT: gendered(
            office("Pani", "prezydent"), office("Pan", "prezydent"), office("", "prezydent")
        ),
        STATE_VICE_PRESIDENT: gendered(
            office("Pani", "wiceprezydent"),
            office("Pan", "wiceprezydent"),
            office("", "wiceprezydent"),
        ),
        OTHER: gendered(named("Pani"), named("Pan"), named("")),
    },
    neutral_salutation="Szanowni Państwo,",
    neutral_address="Szanowni Państwo",
    institutions={
        EUROPEAN_COMMISSION: ("Komisja Europejska", "Komisji Europejskiej"),
        EUROPEAN_COUNCIL: ("Rada Europejska", "Rady Europejskiej"),
        EUROPEAN_PARLIAMENT: ("Parlament Europejski", "Parlamentu Europejskiego"),
        COUNCIL_OF_THE_EU: ("Rada Unii Europejskiej", "Rady Unii Europejskiej"),
    },
)

# European Portuguese: "Excelentíssimo(a)" and the office, without the name; "(a)" when unknown.
PT = LanguageRules(
    salutations={
        MEP: gendered(
            "Excelentíssima Senhora Deputada,",
            "Excelentíssimo Senhor Deputado,",
            "Exmo.(a) Senhor(a) Deputado(a),",
        ),
        MINISTER: gendered(
            "Excelentíssima Senhora Ministra,",
            "Excelentíssimo Senhor Ministro,",
            "Exmo.(a) Senhor(a) Ministro(a),",
        ),
        PRESIDENT: gendered(
            "Excelentíssima Senhora Presidente,",
            "Excelentíssimo Senhor Presidente,",
            "Exmo.(a) Senhor(a) Presidente,",
        ),
        VICE_PRESIDENT: gendered(
            "Excelentíssima Senhora Vice-Presidente,",
            "Excelentíssimo Senhor Vice-Presidente,",
            "Exmo.(a) Senhor(a) Vice-Presidente,",
        ),
        OTHER: gendered("Excelentíssima Senhora,", "Excelentíssimo Senhor,"),
    },
    address_lines={
        MEP: gendered(
            named(
                "Exma. Senhora", "deputada ao Parlamento Europeu", "Deputada ao Parlamento Europeu"
            ),
            named(
                "Exmo. Senhor", "deputado ao Parlamento Europeu", "Deputado ao Parlamento Europeu"
            ),
            named("", "membro do Parlamento Europeu", "Membro do Parlamento Europeu"),
        ),
        MINISTER: gendered(
            named("Exma. Senhora", "ministra", "Exma. Senhora Ministra"),
            named("Exmo. Senhor", "ministro", "Exmo. Senhor Ministro"),
            named(""),
        ),
        PRESIDENT: gendered(
            office("Exma. Senhora", "presidente"),
            office("Exmo. Senhor", "presidente"),
            office("", "presidente"),
        ),
        VICE_PRESIDENT: gendered(
            office("Exma. Senhora", "vice-presidente"),
            office("Exmo. Senhor", "vice-presidente"),
            office("", "vice-presidente"),
        ),
        OTHER: gendered(named("Exma. Senhora"), named("Exmo. Senhor"), named("")),
    },
    neutral_salutation="Exmo.(a) Senhor(a),",
    neutral_address="Exmo.(a) Senhor(a)",
    institutions={
        EUROPEAN_COMMISSION: ("Comissão Europeia", "da Comissão Europeia"),
        EUROPEAN_COUNCIL: ("Conselho Europeu", "do Conselho Europeu"),
        EUROPEAN_PARLIAMENT: ("Parlamento Europeu", "do Parlamento Europeu"),
        COUNCIL_OF_THE_EU: ("Conselho da União Europeia", "do Conselho da União Europeia"),
    },
)

RULES: dict[str, LanguageRules] = {
    "en": EN,
    "fr": FR,
    "de": DE,
    "es": ES,
    "it": IT,
    "nl": NL,
    "pl": PL,
    "pt": PT,
}
LANGUAGES = tuple(RULES)

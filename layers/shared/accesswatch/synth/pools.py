"""Vocabularies for the synthetic world: NZ-ish names, streets, places, teams and sites.

All invented. Names with macrons, apostrophes, hyphens and multi-word family names are
deliberate: the detector has to match them across differently typed records.
"""

from __future__ import annotations

from typing import Final

FAMILY_NAMES: Final = (
    # common
    "Smith", "Williams", "Brown", "Wilson", "Taylor", "Jones", "Anderson", "Thompson", "Walker",
    "Harris", "Martin", "Clarke", "Wright", "Robinson", "Scott", "Campbell", "Stewart", "Kelly",
    "Young", "King", "White", "Mitchell", "Edwards", "Hughes", "Morris", "Cooper", "Bell", "Ward",
    # apostrophes and Mc/Mac
    "O'Brien", "O'Connor", "O'Neill", "D'Souza", "McDonald", "MacKenzie", "McLeod",
    # Māori
    "Ngata", "Parata", "Tipene", "Wihongi", "Henare", "Waaka", "Pōmare", "Tāwhai", "Rāwiri",
    "Māhuika", "Tūhiwai", "Kīngi", "Te Huia", "Te Whata", "Te Rangi", "Tamatea", "Hōhaia", "Paki",
    "Te Kōhai", "Ngāwati",
    # Pacific
    "Tuilagi", "Leota", "Taufa", "Fifita", "Faleolo", "Fa'amausili", "Aumua", "Tupou", "Vaifale",
    # Asian
    "Wang", "Li", "Chen", "Zhang", "Patel", "Singh", "Kumar", "Nguyen", "Kim", "Sharma", "Liu",
    # hyphenated
    "Smith-Ngata", "Brown-Parata", "Taylor-Waaka", "Wilson-Tāwhai",
)

# Family names shared by many clients and some staff: fertile ground for false matches.
COMMON_FAMILY_NAMES: Final = ("Smith", "Ngata", "Williams", "Singh", "Brown", "Te Huia")

GIVEN_NAMES: Final = (
    "James", "John", "Michael", "David", "Daniel", "Samuel", "Benjamin", "Jack", "Liam", "Oliver",
    "Noah", "Sarah", "Emma", "Olivia", "Charlotte", "Sophie", "Grace", "Ruby", "Ella", "Chloe",
    "Mary", "Anne", "Margaret", "Susan", "Karen", "Peter", "Paul", "Mark", "Lucy", "Hannah",
    # Māori
    "Hēmi", "Mere", "Wiremu", "Rāwiri", "Tama", "Aroha", "Ngaio", "Mīria", "Hōne", "Pita", "Rangi",
    "Tāne", "Anahera", "Hūhana", "Māka", "Kahu", "Manaia", "Ariki", "Tūī", "Whetū", "Mōrehu",
    # Pacific
    "Sione", "Losa", "Malia", "Tevita", "Sina", "Ana", "Viliami", "Seini", "Losana",
    # Asian
    "Wei", "Mei", "Priya", "Arjun", "Min-jun", "Ji-woo", "Anh", "Raj", "Xiao-li",
)

# (street name, street type)
STREETS: Final = (
    ("Rata", "Street"), ("Rata", "Road"), ("Kōwhai", "Street"), ("Tōtara", "Avenue"),
    ("Rimu", "Road"), ("Pōhutukawa", "Drive"), ("Kauri", "Street"), ("Mānuka", "Crescent"),
    ("Nīkau", "Place"), ("Queen", "Street"), ("Victoria", "Street"), ("Cuba", "Street"),
    ("Willis", "Street"), ("Great North", "Road"), ("Te Atatū", "Road"), ("Hinemoa", "Street"),
    ("Main", "Road"), ("High", "Street"), ("Church", "Street"), ("George", "Street"),
    ("Princes", "Street"), ("Karaka", "Terrace"), ("Mātai", "Avenue"), ("Hīnau", "Drive"),
    ("Kahikatea", "Crescent"), ("Miro", "Place"), ("Titoki", "Street"), ("Harbour View", "Road"),
    ("Aotea", "Terrace"), ("Ōwhiro Bay", "Road"), ("Park", "Avenue"), ("Seaview", "Drive"),
)

STREET_ABBREV: Final = {
    "Street": "St",
    "Road": "Rd",
    "Avenue": "Ave",
    "Drive": "Dr",
    "Place": "Pl",
    "Crescent": "Cres",
    "Terrace": "Tce",
}

# (suburb, city)
PLACES: Final = (
    ("Newtown", "Wellington"), ("Porirua East", "Porirua"), ("Cannons Creek", "Porirua"),
    ("Ōtara", "Auckland"), ("Māngere", "Auckland"), ("Te Atatū South", "Auckland"),
    ("Ōtāhuhu", "Auckland"), ("Riccarton", "Christchurch"), ("St Albans", "Christchurch"),
    ("Hamilton East", "Hamilton"), ("Naenae", "Lower Hutt"), ("Taitā", "Lower Hutt"),
    ("Whanganui East", "Whanganui"), ("Kaiti", "Gisborne"), ("Ōnekawa", "Napier"),
)

SITES: Final = (
    "Porirua",
    "Wellington, Level 3",
    'Māngere "Town Centre"',
    "Ōtara",
    "Riccarton",
    "Hamilton",
    "Lower Hutt",
    "Gisborne",
    "Napier",
    "Contact Centre, Whanganui",
)

SAU_TEAM: Final = "Staff Assistance Unit"

# (team, roles, carries a caseload)
TEAMS: Final = (
    ("Service Centre", ("Case Manager", "Service Coordinator", "Case Manager"), True),
    ("Case Management", ("Case Manager", "Senior Case Manager"), True),
    ("Contact Centre", ("Contact Centre Agent",), False),
    ("Integrity and Debt", ("Integrity Officer", "Debt Officer"), True),
    ("Payments Operations", ("Payments Officer",), False),
    ("Housing Support", ("Housing Broker",), True),
)

SERVICE_ACCOUNTS: Final = (
    "svc-batch-letters",
    "svc-payments-recon",
    "svc-data-warehouse",
    "svc-address-verify",
    "svc-debt-recovery",
    "svc-ird-match",
)

CLIENT_FLAGS: Final = (
    "interpreter_required",
    "safety_alert",
    "vulnerable",
    "deceased",
    "restricted",
    "overseas",
)

WATCHLIST_REASONS: Final = ("member_of_parliament", "media", "celebrity", "court_case", "sports")

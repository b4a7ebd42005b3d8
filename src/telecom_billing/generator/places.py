"""Moroccan places: the cities and streets of subscriber addresses, and the city of an address.

The cities also place each subscriber's radio cells (the last column is the stem of their cell
ids), so the CDR generator reads them too; it does not need Faker, which only `subscribers` imports.
"""

from __future__ import annotations

import hashlib

# (city, postal code, share of the population, cell-id stem).
CITIES = (
    ("Casablanca", "20000", 33.0, "CASABLANCA"), ("Rabat", "10000", 9.0, "RABAT"),
    ("Fès", "30000", 11.0, "FES"), ("Marrakech", "40000", 9.3, "MARRAKECH"),
    ("Tanger", "90000", 9.5, "TANGER"), ("Salé", "11000", 9.0, "SALE"),
    ("Meknès", "50000", 6.3, "MEKNES"), ("Oujda", "60000", 5.5, "OUJDA"),
    ("Kénitra", "14000", 4.3, "KENITRA"), ("Agadir", "80000", 4.2, "AGADIR"),
    ("Tétouan", "93000", 3.8, "TETOUAN"), ("Témara", "12000", 3.1, "TEMARA"),
    ("Safi", "46000", 3.1, "SAFI"), ("Mohammedia", "28800", 2.2, "MOHAMMEDIA"),
    ("Khouribga", "25000", 2.0, "KHOURIBGA"), ("El Jadida", "24000", 1.9, "ELJADIDA"),
    ("Béni Mellal", "23000", 1.9, "BENIMELLAL"), ("Nador", "62000", 1.6, "NADOR"),
    ("Taza", "35000", 1.5, "TAZA"), ("Al Hoceïma", "32000", 0.6, "ALHOCEIMA"),
)
STREET_TYPES = ("Rue", "Avenue", "Boulevard", "Derb", "Impasse", "Rue", "Avenue", "Résidence")
STREET_NAMES = (
    "Mohammed V", "Hassan II", "Ibn Battouta", "Zerktouni", "Al Massira", "Moulay Ismail", "Ibn Sina",
    "Al Qods", "Allal El Fassi", "Abdelmoumen", "Anfa", "des FAR", "Moulay Youssef", "Oued Sebou",
    "Al Andalous", "Ibn Khaldoun", "Annakhil", "Bir Anzarane", "Al Wahda", "Omar Ibn Khattab",
    "Lalla Yacout", "Tarik Ibn Ziad", "Al Moukawama", "Ibn Rochd", "Al Amal", "Oued Ziz",
    "Moulay Rachid", "Al Farabi", "Ennakhil", "Al Irfane", "Yacoub El Mansour", "Idriss Premier",
)


def home_city(address: str, msisdn: str) -> int:
    """The index in CITIES of the city an address ends with (another address: one by the number)."""
    tail = address.rsplit(",", 1)[-1].strip()
    for i, city in enumerate(CITIES):
        if tail.endswith(city[0]):
            return i
    return int(hashlib.sha256(msisdn.encode()).hexdigest(), 16) % len(CITIES)

"""The demo's workload: plausible people, patients, orders and sensor readings over ``demo_schema()``.

Values look real (e-mail addresses, phone numbers, social-security-like ids, ICD-10 diagnoses,
free-text notes) so that masking visibly changes them; the operations are the generic
workload's (inserts, partial updates, inserts with TTL, row/cell/range/partition deletes,
collection changes). An order's ``user_id`` is drawn from the same ids as ``demo.users``, so a
join on the masked (hashed) key still works.
"""

from __future__ import annotations

import datetime
import decimal
import random
import uuid
from collections.abc import Mapping

from cassandra_cdc.schema.model import Schema
from cassandra_cdc.simulator.values import timeuuid
from cassandra_cdc.simulator.workload import OperationMix, ValueFactory, WorkloadGenerator

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret", "Linus"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "inbox.test"]
_STREETS = ["Main St", "Oak Ave", "Elm St", "Maple Rd", "Cedar Ln", "Park Blvd", "Lake Dr"]
_CITIES = ["Springfield", "Riverside", "Fairview", "Madison", "Georgetown", "Clinton", "Salem"]
_COUNTRIES = ["US", "DE", "FR", "GB", "NL", "CA"]
_PLANS = ["free", "pro", "team", "enterprise"]
_INTERESTS = ["hiking", "jazz", "chess", "cooking", "cycling", "photography", "gardening"]
_DIAGNOSES = [
    "E11.9 type 2 diabetes",
    "I10 essential hypertension",
    "J45.909 asthma",
    "M54.5 low back pain",
    "F41.1 generalized anxiety",
    "K21.9 reflux",
]
_NOTES = [
    "Reports improvement since the last visit; continue current medication.",
    "Follow-up in two weeks; blood panel ordered.",
    "Patient called about side effects, dose reduced.",
    "Discussed diet and exercise; referred to nutritionist.",
    "Pain 6/10 on arrival, 2/10 at discharge.",
]
_WARDS = ["cardiology", "oncology", "pediatrics", "orthopedics", "emergency"]
_ALLERGIES = ["penicillin", "peanuts", "latex", "sulfa", "shellfish", "pollen"]
_STATUSES = ["placed", "paid", "shipped", "delivered", "returned"]
_PRODUCTS = ["keyboard", "monitor", "headphones", "usb-c cable", "desk lamp", "notebook", "webcam"]
_CURRENCIES = ["USD", "EUR", "GBP"]

# How many users (and patients) the workload touches: small enough for updates and deletes to
# meet rows that exist.
PEOPLE = 300
SENSORS = 40


def _person_id(kind: str, index: int) -> uuid.UUID:
    return uuid.UUID(int=random.Random(f"{kind}:{index}").getrandbits(128), version=4)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}{rng.randrange(100)}@{rng.choice(_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return f"+1-555-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}"


def _street(rng: random.Random) -> str:
    return f"{rng.randrange(1, 999)} {rng.choice(_STREETS)}"


def _zip(rng: random.Random) -> str:
    return f"{rng.randrange(10000, 99999)}"


def _address(rng: random.Random) -> dict[str, str]:
    return {"street": _street(rng), "city": rng.choice(_CITIES), "zip": _zip(rng), "country": rng.choice(_COUNTRIES)}


def _recent(rng: random.Random, micros: int, within_seconds: int) -> datetime.datetime:
    """A millisecond timestamp at most ``within_seconds`` before ``micros``."""
    millis = micros // 1000 - rng.randrange(within_seconds * 1000)
    return _EPOCH + datetime.timedelta(milliseconds=millis)


def _sample(rng: random.Random, choices: list[str]) -> list[str]:
    return rng.sample(choices, k=rng.randint(1, 3))


def demo_values() -> Mapping[str, ValueFactory]:
    """Value factories for every column of ``demo_schema()`` (see WorkloadGenerator ``values``)."""
    return {
        "demo.users.user_id": lambda rng, _: _person_id("user", rng.randrange(PEOPLE)),
        "demo.users.email": lambda rng, _: _email(rng),
        "demo.users.name": lambda rng, _: _name(rng),
        "demo.users.phone": lambda rng, _: _phone(rng),
        "demo.users.home.street": lambda rng, _: _street(rng),
        "demo.users.home.city": lambda rng, _: rng.choice(_CITIES),
        "demo.users.home.zip": lambda rng, _: _zip(rng),
        "demo.users.home.country": lambda rng, _: rng.choice(_COUNTRIES),
        "demo.users.plan": lambda rng, _: rng.choice(_PLANS),
        "demo.users.signed_up": lambda rng, ts: _recent(rng, ts, 3 * 365 * 86400),
        "demo.users.last_login": lambda rng, ts: _recent(rng, ts, 7 * 86400),
        "demo.users.newsletter": lambda rng, _: rng.random() < 0.4,
        "demo.users.interests": lambda rng, _: _sample(rng, _INTERESTS),
        "demo.patients.patient_id": lambda rng, _: _person_id("patient", rng.randrange(PEOPLE)),
        "demo.patients.ssn": lambda rng, _: (
            f"{rng.randrange(100, 899):03d}-{rng.randrange(1, 99):02d}-{rng.randrange(1, 9999):04d}"
        ),
        "demo.patients.name": lambda rng, _: _name(rng),
        "demo.patients.date_of_birth": lambda rng, _: (
            datetime.date(1935, 1, 1) + datetime.timedelta(days=rng.randrange(80 * 365))
        ),
        "demo.patients.diagnosis": lambda rng, _: rng.choice(_DIAGNOSES),
        "demo.patients.notes": lambda rng, _: rng.choice(_NOTES),
        "demo.patients.ward": lambda rng, _: rng.choice(_WARDS),
        "demo.patients.admitted_at": lambda rng, ts: _recent(rng, ts, 30 * 86400),
        "demo.patients.allergies": lambda rng, _: _sample(rng, _ALLERGIES),
        "demo.orders.user_id": lambda rng, _: _person_id("user", rng.randrange(PEOPLE)),
        "demo.orders.order_id": lambda rng, ts: timeuuid(rng, ts - rng.randrange(3600 * 10**6)),
        "demo.orders.status": lambda rng, _: rng.choice(_STATUSES),
        "demo.orders.total": lambda rng, _: decimal.Decimal(rng.randrange(100, 200_000)).scaleb(-2),
        "demo.orders.currency": lambda rng, _: rng.choice(_CURRENCIES),
        "demo.orders.items": lambda rng, _: _sample(rng, _PRODUCTS),
        "demo.orders.shipping": lambda rng, _: _address(rng),
        "demo.orders.placed_at": lambda rng, ts: _recent(rng, ts, 3600),
        "demo.sensor_readings.sensor_id": lambda rng, _: f"sensor-{rng.randrange(SENSORS):03d}",
        "demo.sensor_readings.day": lambda rng, ts: (
            _EPOCH + datetime.timedelta(microseconds=ts) - datetime.timedelta(days=rng.randrange(3))
        ).date(),
        "demo.sensor_readings.ts": lambda rng, ts: _recent(rng, ts, 3 * 86400),
        "demo.sensor_readings.temperature": lambda rng, _: round(rng.uniform(15.0, 30.0), 2),
        "demo.sensor_readings.humidity": lambda rng, _: round(rng.uniform(20.0, 80.0), 1),
        "demo.sensor_readings.battery": lambda rng, _: rng.randrange(0, 101),
    }


# Mostly writes, as a service's traffic is; every kind of delete still shows up.
DEMO_MIX = OperationMix(
    insert=0.45,
    update=0.25,
    insert_ttl=0.08,
    delete_row=0.06,
    delete_cell=0.05,
    collection_change=0.06,
    collection_overwrite=0.02,
    static_update=0.0,
    range_delete=0.02,
    partition_delete=0.01,
)


def demo_generator(schema: Schema, *, seed: int, now: int) -> WorkloadGenerator:
    """The demo workload over ``schema`` (``demo_schema()``), with the node's clock at ``now`` (seconds).

    TTLs run from one hour to a week, so nothing expires while the demo compares the sinks.
    """
    tables = [t for t in schema.tables.values() if t.keyspace == "demo"]
    return WorkloadGenerator(
        tables,
        seed=seed,
        now=now,
        partitions_per_table=PEOPLE,
        rows_per_partition=6,
        ttl_range=(3600, 7 * 86400),
        mix=DEMO_MIX,
        values=demo_values(),
    )

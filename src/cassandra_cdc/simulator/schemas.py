"""Ready-made schemas for the demo and the benchmarks, as `DESCRIBE ... WITH INTERNALS` prints them."""

from __future__ import annotations

from cassandra_cdc.schema.cql_file import parse_cql_schema
from cassandra_cdc.schema.model import Schema

# Three tables of 10-20 columns: what a typical service keeps in Cassandra.
BENCHMARK_CQL = """
CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'};

CREATE TYPE shop.address (street text, city text, zip text, country ascii);

CREATE TABLE shop.users (
    user_id uuid PRIMARY KEY,
    email text,
    name text,
    phone text,
    birth_date date,
    created_at timestamp,
    last_login timestamp,
    login_count int,
    score double,
    active boolean,
    tags set<text>,
    prefs map<text, text>,
    home address,
    avatar blob
) WITH ID = 5a1c0d8e-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;

CREATE TABLE shop.orders (
    customer_id uuid,
    order_id timeuuid,
    status ascii,
    total decimal,
    currency ascii,
    items list<text>,
    quantities map<text, int>,
    shipping frozen<address>,
    placed_at timestamp,
    shipped_at timestamp,
    notes text,
    discount float,
    gift boolean,
    channel text,
    region text,
    customer_tier text static,
    PRIMARY KEY (customer_id, order_id)
) WITH CLUSTERING ORDER BY (order_id DESC) AND ID = 6b2d1e9f-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;

CREATE TABLE shop.readings (
    sensor_id text,
    day date,
    ts timestamp,
    temperature double,
    humidity double,
    pressure double,
    battery smallint,
    status tinyint,
    firmware text,
    location frozen<tuple<double, double>>,
    ip inet,
    uptime bigint,
    errors varint,
    sample_id uuid,
    interval duration,
    reading_time time,
    PRIMARY KEY ((sensor_id, day), ts)
) WITH ID = 7c3e2fa0-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true AND default_time_to_live = 0;
"""


def benchmark_schema() -> Schema:
    schema, _ = parse_cql_schema(BENCHMARK_CQL, "benchmark schema")
    return schema


# The demo's tables (`cassandra-cdc demo`): personal data (PII), health data (PHI), orders and a
# sensor time series, each with the column kinds masking has to deal with.
DEMO_CQL = """
CREATE KEYSPACE demo WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'};

CREATE TYPE demo.address (street text, city text, zip text, country ascii);

CREATE TABLE demo.users (
    user_id uuid PRIMARY KEY,
    email text,
    name text,
    phone text,
    home address,
    plan text,
    signed_up timestamp,
    last_login timestamp,
    newsletter boolean,
    interests set<text>
) WITH ID = 8d4f30b1-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;

CREATE TABLE demo.patients (
    patient_id uuid PRIMARY KEY,
    ssn text,
    name text,
    date_of_birth date,
    diagnosis text,
    notes text,
    ward text,
    admitted_at timestamp,
    allergies set<text>
) WITH ID = 9e5041c2-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;

CREATE TABLE demo.orders (
    user_id uuid,
    order_id timeuuid,
    status text,
    total decimal,
    currency ascii,
    items list<text>,
    shipping frozen<address>,
    placed_at timestamp,
    PRIMARY KEY (user_id, order_id)
) WITH CLUSTERING ORDER BY (order_id DESC) AND ID = af6152d3-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;

CREATE TABLE demo.sensor_readings (
    sensor_id text,
    day date,
    ts timestamp,
    temperature double,
    humidity double,
    battery smallint,
    PRIMARY KEY ((sensor_id, day), ts)
) WITH ID = b07263e4-7cbb-11ee-9858-c9aa1eb53e69 AND cdc = true;
"""


def demo_schema() -> Schema:
    schema, _ = parse_cql_schema(DEMO_CQL, "demo schema")
    return schema

"""A brand-new DAGSTER_HOME hit by several commands at once: `fraud-lakehouse init` creates and migrates the
instance once, under a lock, and every storage ends at the one head of its schema; after it, Dagster commands may
run together."""

import sqlite3
import subprocess

from fraud_lakehouse_tests.instance_home import new_home


def test_commands_at_once_on_a_new_instance_leave_it_whole(tmp_path):
    home = new_home(tmp_path / "home")
    inits = [
        subprocess.Popen(home.command("fraud-lakehouse", "init"), cwd=home.path, env=home.env(), stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for process in inits:
        _, error = process.communicate(timeout=300)
        assert process.returncode == 0, error.decode()[-2000:]
    databases = sorted((home.path / ".lakehouse" / "dagster" / "storage").rglob("*.db"))
    assert {path.name for path in databases} >= {"runs.db", "index.db", "schedules.db"}
    heads = {path.name: sqlite3.connect(path).execute("select version_num from alembic_version").fetchall()
             for path in databases}  # fmt: skip
    assert all(len(rows) == 1 for rows in heads.values()), heads
    assert len({rows[0] for rows in heads.values()}) == 1, heads  # every storage at the same, latest head
    # an initialised instance serves several Dagster commands at once
    listings = [
        subprocess.Popen(home.command("dagster", "run", "list"), cwd=home.path, env=home.env(), stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for process in listings:
        _, error = process.communicate(timeout=300)
        assert process.returncode == 0, error.decode()[-2000:]
    migrate = home.run("dagster", "instance", "migrate")
    assert migrate.returncode == 0 and "current: " in migrate.stdout
    current = migrate.stdout.split("current: ")[1].split()[0]
    latest = migrate.stdout.split("latest: ")[1].split()[0]
    assert current == latest

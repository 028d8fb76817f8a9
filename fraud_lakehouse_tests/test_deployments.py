"""The local profile's pseudonymisation key: bound to the environment by name, never by value."""

import pytest
from dagster import EnvVar, build_resources

from fraud_lakehouse.claims.privacy import DEVELOPMENT_KEY, KEY_ENV, PseudonymKeyError, key_fingerprint
from fraud_lakehouse.resources.deployments import resources_for_deployment


def test_key_from_environment_is_an_env_var(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "a-real-secret-of-some-length")
    pseudonymizer = resources_for_deployment("local")["pseudonymizer"]
    # Dagster shows resource config in the UI: an EnvVar shows the variable's name.
    assert pseudonymizer.key == EnvVar(KEY_ENV)
    with build_resources({"pseudonymizer": pseudonymizer}) as resources:
        assert resources.pseudonymizer.secret() == "a-real-secret-of-some-length"
        assert resources.pseudonymizer.metadata() == {
            "pseudonym_key": "from environment",
            "pseudonym_key_fingerprint": key_fingerprint("a-real-secret-of-some-length"),
        }


def test_without_environment_the_labelled_development_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    pseudonymizer = resources_for_deployment("local")["pseudonymizer"]
    with build_resources({"pseudonymizer": pseudonymizer}) as resources:
        assert resources.pseudonymizer.secret() == DEVELOPMENT_KEY
        assert resources.pseudonymizer.metadata()["pseudonym_key"] == "DEVELOPMENT key (not for real data)"


@pytest.mark.parametrize("value", ["", "   ", "short-key", " " * 20 + "x"])
def test_an_empty_blank_or_short_key_is_an_error_not_the_development_key(monkeypatch, value):
    monkeypatch.setenv(KEY_ENV, value)
    pseudonymizer = resources_for_deployment("local")["pseudonymizer"]
    assert pseudonymizer.key == EnvVar(KEY_ENV)  # bound to the variable, never replaced by the development key
    with build_resources({"pseudonymizer": pseudonymizer}) as resources:
        with pytest.raises(PseudonymKeyError, match=KEY_ENV) as refused:
            resources.pseudonymizer.secret()
    assert value.strip() == "" or value.strip() not in str(refused.value)  # the message never shows the key


@pytest.mark.parametrize(
    ("deployment", "setting", "running"),
    [("local", None, False), ("prod", None, True), ("prod", "off", False), ("local", "on", True)],
)
def test_the_landing_sensor_runs_by_default_in_production_only(monkeypatch, deployment, setting, running):
    from dagster import DefaultSensorStatus

    from fraud_lakehouse.resources.deployments import SENSOR_ENV, current_deployment
    from fraud_lakehouse.sensors.claims_landing import build_claims_landing_sensor

    if setting is None:
        monkeypatch.delenv(SENSOR_ENV, raising=False)
    else:
        monkeypatch.setenv(SENSOR_ENV, setting)
    chosen = current_deployment(deployment)
    assert chosen.sensor_running is running
    sensor = build_claims_landing_sensor("claims_job", running=chosen.sensor_running)
    assert sensor.default_status == (DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED)

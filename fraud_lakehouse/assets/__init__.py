"""The assets of a deployment: the claims path always, the synthetic feed when the deployment has it."""

from __future__ import annotations

import warnings

from dagster import AssetsDefinition, AutomationCondition, BetaWarning, load_assets_from_modules, map_asset_specs

# The single-run backfill policy of every Spark asset (one run for a range of days) is a beta parameter of
# Dagster's: known and wanted, so its warning stays out of users' terminals. Set before the asset modules load.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

from fraud_lakehouse.assets import bronze, claims_ingest, gold  # noqa: E402 - after the warning filter
from fraud_lakehouse.assets.silver import build_silver_claims  # noqa: E402


def build_assets(synthetic_feed: bool, automation: bool = False) -> list[AssetsDefinition]:
    assets = [
        *load_assets_from_modules([claims_ingest]),
        build_silver_claims(synthetic_feed),
        *load_assets_from_modules([gold]),
    ]
    if synthetic_feed:
        assets = [*load_assets_from_modules([bronze]), *assets]
    if automation:
        # Silver and gold days follow their upstream days: a re-run of an earlier silver day brings the gold days
        # that read it up to date.
        layered = [asset for asset in assets if asset.key.path[0] in ("silver", "gold")]
        others = [asset for asset in assets if asset.key.path[0] not in ("silver", "gold")]
        assets = [
            *others,
            *map_asset_specs(
                lambda spec: spec.replace_attributes(automation_condition=AutomationCondition.eager()), layered
            ),
        ]
    return assets  # type: ignore[return-value]

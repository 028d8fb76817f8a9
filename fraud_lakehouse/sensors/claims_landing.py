"""``claims_landing_sensor``: claims files landed under ``claims/`` start the claims path of their day.

Each tick lists the landing area (an S3 prefix, through dagster-aws's
``S3Resource``; or a local folder) and asks for one run per batch of new
files of a detection date. What is new is decided by ``plan_tick``, a pure
function of the listing and the cursor:

- a file is identified by its key and its ETag (content): an identical
  re-upload is not new, an overwrite with other content is, and the run
  key (hash of the batch's keys and ETags) stops Dagster from starting the
  same batch twice;
- the cursor keeps a watermark (every object last modified at or before it
  was handled) and, for the objects after it, a 6-byte digest of key and
  ETag each. The watermark trails the clock by ``WATERMARK_LAG`` and never
  passes a file that still waits, so an upload in the same second as the
  last one seen, one whose name sorts before it, or one S3 lists late is
  never missed; a deleted key costs nothing; the digests of an hour of
  uploads make the cursor's size (10,000 keys: about 80 KB);
- only the days that can still change are listed every tick (the root,
  date folders from ``HOT_DAYS`` ago onwards, future ones, folders that are
  no date); every ``FULL_SCAN_EVERY`` ticks the whole area is listed, for a
  file landed late in an old folder.

A file's detection date is its date folder, else its upload day (UTC). A
date after today waits (logged, never dropped) until its partition exists;
a date before the first partition, or a folder that is no date, goes to the
run of its upload day, which records it as rejected with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster_aws.s3 import S3Resource

from fraud_lakehouse.claims.landing import DATE_FOLDER, LandedFile, Landing
from fraud_lakehouse.jobs import claims_run_selection
from fraud_lakehouse.partitions import last_partition_date, partitions_start_date
from fraud_lakehouse.resources.landing import ClaimsLanding
from fraud_lakehouse.storage import S3Storage, is_s3

INTERVAL_ENV = "FRAUD_LAKEHOUSE_SENSOR_INTERVAL"
FILES_PER_RUN_ENV = "FRAUD_LAKEHOUSE_SENSOR_FILES_PER_RUN"
RUNS_PER_TICK_ENV = "FRAUD_LAKEHOUSE_SENSOR_RUNS_PER_TICK"
FULL_SCAN_EVERY_ENV = "FRAUD_LAKEHOUSE_SENSOR_FULL_SCAN_EVERY"
DEFAULT_INTERVAL_S = 30
DEFAULT_FILES_PER_RUN = 50
DEFAULT_RUNS_PER_TICK = 10
# Listing every folder each tick costs a request per thousand keys: folders of this many days back and newer
# are listed every tick, the whole area every FULL_SCAN_EVERY ticks.
HOT_DAYS = 3
FULL_SCAN_EVERY = 20
# How far the watermark trails the clock: an upload whose object shows an older modification time than objects
# already listed (a long multipart upload, a clock) is still seen if it completes within this.
WATERMARK_LAG = dt.timedelta(hours=1)
DIGEST_BYTES = 6
# How much earlier than the interval a tick may come (see minimum_interval).
TICK_SLACK_S = 1
RUN_TAG_FILES = "fraud_lakehouse/landed_files"
RUN_TAG_KEYS = "fraud_lakehouse/landed_keys"
CURSOR_VERSION = 1


def _setting(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class SensorSettings:
    files_per_run: int = DEFAULT_FILES_PER_RUN
    runs_per_tick: int = DEFAULT_RUNS_PER_TICK
    hot_days: int = HOT_DAYS
    full_scan_every: int = FULL_SCAN_EVERY

    @classmethod
    def from_environment(cls, interval_s: int = DEFAULT_INTERVAL_S) -> SensorSettings:
        # a full listing at least twice within the watermark's lag, whatever the interval
        full_scan_every = max(1, min(FULL_SCAN_EVERY, int(WATERMARK_LAG.total_seconds() / interval_s / 2)))
        full_scan_every = min(full_scan_every, _setting(FULL_SCAN_EVERY_ENV, full_scan_every))
        return cls(
            files_per_run=_setting(FILES_PER_RUN_ENV, DEFAULT_FILES_PER_RUN),
            runs_per_tick=_setting(RUNS_PER_TICK_ENV, DEFAULT_RUNS_PER_TICK),
            full_scan_every=full_scan_every,
        )


def digest(landed: LandedFile) -> bytes:
    """6 bytes naming a file's key and content: 10,000 of them are 60 KB, and two collide once in 10^10 pairs."""
    return hashlib.sha256(f"{landed.uri}\0{landed.etag}".encode()).digest()[:DIGEST_BYTES]


@dataclass
class Cursor:
    """What the sensor has handled: everything modified at or before ``watermark`` (Unix seconds), and the
    digests of the files requested after it, grouped by the hour they were modified in (a group is dropped once
    the watermark passes its hour, which bounds the cursor to the files of the last hours)."""

    watermark: int = 0
    ticks: int = 0
    hours: dict[int, set[bytes]] = field(default_factory=dict)

    def __contains__(self, item: bytes) -> bool:
        return any(item in group for group in self.hours.values())

    def add(self, landed: LandedFile) -> None:
        hour = _epoch(landed.modified) // 3600 * 3600
        self.hours.setdefault(hour, set()).add(digest(landed))

    def serialize(self) -> str:
        groups = {str(hour): base64.b64encode(b"".join(sorted(group))).decode() for hour, group in self.hours.items()}
        return json.dumps({"v": CURSOR_VERSION, "wm": self.watermark, "t": self.ticks, "d": groups})

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"cursor version {data.get('v')} is not {CURSOR_VERSION}")
        hours = {}
        for hour, packed in data["d"].items():
            raw = base64.b64decode(packed)
            hours[int(hour)] = {raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}
        return cls(watermark=int(data["wm"]), ticks=int(data["t"]), hours=hours)


@dataclass(frozen=True)
class ClaimsBatch:
    """One run: files of one detection date."""

    partition: str
    files: tuple[LandedFile, ...]

    @property
    def run_key(self) -> str:
        name = "\n".join(f"{f.uri}\0{f.etag}" for f in self.files)
        return f"claims-{self.partition}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"


@dataclass
class TickPlan:
    batches: list[ClaimsBatch]
    cursor: Cursor
    log: list[str]


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def run_partition(landed: LandedFile, first: dt.date, last: dt.date) -> tuple[dt.date | None, str | None]:
    """The partition whose run takes the file, or None and why it waits."""
    when = landed.date
    if when.date is not None and first <= when.date <= last:
        return when.date, None
    if when.date is not None and when.date > last:
        return None, f"{landed.relative_path}: its date {when.date} is after today; it waits for its partition"
    # before the first partition, or in a folder that is no date: the run of its upload day records it
    if first <= landed.upload_date <= last:
        return landed.upload_date, None
    return None, f"{landed.relative_path}: uploaded on {landed.upload_date}, outside the partitions; it waits"


def plan_tick(
    listing: Iterable[LandedFile],
    cursor: Cursor,
    now: dt.datetime,
    settings: SensorSettings,
    first_partition: dt.date,
    last_partition: dt.date,
    full: bool = True,
) -> TickPlan:
    """The runs to ask for and the next cursor, from the objects listed this tick (``full``: the whole area)."""
    log: list[str] = []
    waiting: list[LandedFile] = []
    new: dict[dt.date, list[LandedFile]] = {}
    skipped = 0
    for landed in listing:
        if landed.skip_reason is not None:
            skipped += 1
            continue
        if _epoch(landed.modified) <= cursor.watermark or digest(landed) in cursor:
            continue
        partition, why = run_partition(landed, first_partition, last_partition)
        if partition is None:
            waiting.append(landed)
            log.append(why or "")
            continue
        new.setdefault(partition, []).append(landed)
    if skipped:
        log.append(f"{skipped} objects skipped: uploads in progress or hidden names")
    batches: list[ClaimsBatch] = []
    deferred: list[LandedFile] = []
    for partition in sorted(new):
        files = sorted(new[partition], key=lambda f: f.uri)
        for start in range(0, len(files), settings.files_per_run):
            chunk = tuple(files[start : start + settings.files_per_run])
            if len(batches) < settings.runs_per_tick:
                batches.append(ClaimsBatch(partition.isoformat(), chunk))
            else:
                deferred += chunk
    if deferred:
        log.append(f"{len(deferred)} new files wait for the next tick (at most {settings.runs_per_tick} runs a tick)")
    following = Cursor(cursor.watermark, cursor.ticks + 1, {hour: set(group) for hour, group in cursor.hours.items()})
    for batch in batches:
        for landed in batch.files:
            following.add(landed)
    # The watermark moves on a full listing only (a hot one does not see old folders): it trails the clock and
    # stops short of every file still to do.
    if full:
        watermark = _epoch(now - WATERMARK_LAG)
        for landed in (*waiting, *deferred):
            watermark = min(watermark, _epoch(landed.modified) - 1)
        following.watermark = max(watermark, cursor.watermark)
    following.hours = {hour: group for hour, group in following.hours.items() if hour + 3600 > following.watermark}
    return TickPlan(batches, following, log)


def hot_listing(landing: Landing, today: dt.date, settings: SensorSettings, full: bool) -> list[LandedFile]:
    """The objects of the folders that can still change (every folder on a full scan)."""
    if full:
        return landing.list_all()
    folders, objects = landing.storage.list_level(landing.root)
    listed = [landing.landed(item) for item in objects]
    oldest_hot = today - dt.timedelta(days=settings.hot_days)
    for folder in folders:
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        match = DATE_FOLDER.match(name)
        day = None
        if match:
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:
                day = None
        if day is None or day >= oldest_hot:
            listed += [landing.landed(item) for item in landing.storage.list(folder)]
    return listed


def run_request(batch: ClaimsBatch, asset_selection: list[AssetKey] | None = None) -> RunRequest:
    keys = [landed.relative_path for landed in batch.files]
    return RunRequest(
        run_key=batch.run_key,
        partition_key=batch.partition,
        asset_selection=asset_selection,
        run_config={"ops": {"claims_raw": {"config": {"files": [landed.uri for landed in batch.files]}}}},
        tags={
            RUN_TAG_FILES: str(len(keys)),
            RUN_TAG_KEYS: json.dumps(keys),
            # a run that fails for a passing reason (S3 throttled, a node lost) is retried once
            "dagster/max_retries": "1",
        },
    )


def minimum_interval(interval_s: int) -> int:
    """The sensor's minimum interval for ticks ``interval_s`` apart.

    Dagster's sensor daemon checks its sensors in a loop (every 5 s), and a
    sensor is due when the time since its last tick started is at least its
    minimum interval. A tick starts a moment after its loop does, so the check
    a whole interval later finds a little less than the interval has passed:
    with the interval itself as the minimum, the sensor ticked on every other
    check (asked for 5 s, it ticked every 10 s). A second less gives the
    interval asked for."""
    return max(1, interval_s - TICK_SLACK_S)


def build_claims_landing_sensor(job_name: str, running: bool = False):  # type: ignore[no-untyped-def]
    interval = _setting(INTERVAL_ENV, DEFAULT_INTERVAL_S)

    @sensor(
        name="claims_landing_sensor",
        job_name=job_name,
        minimum_interval_seconds=minimum_interval(interval),
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description="Claims files landed under the landing prefix start the claims path of their detection date "
        "(bronze/claims_raw -> silver -> gold), a run per batch of files of one date; an identical re-upload does "
        "not run again.",
    )
    def claims_landing_sensor(context: SensorEvaluationContext, landing: ClaimsLanding, s3: S3Resource):
        root = landing.root
        area = Landing(root, S3Storage(s3.get_client()) if is_s3(root) else None)
        settings = SensorSettings.from_environment(interval)
        cursor = Cursor.parse(context.cursor)
        now = dt.datetime.now(dt.UTC)
        full = cursor.ticks % settings.full_scan_every == 0
        try:
            listing = hot_listing(area, now.date(), settings, full)
        except Exception as error:  # credentials, endpoint, bucket: one clear line, the next tick tries again
            raise ListingError(f"cannot list the landing area {root}: {type(error).__name__}: {error}") from None
        plan = plan_tick(listing, cursor, now, settings, partitions_start_date(), last_partition_date(), full)
        for line in plan.log:
            context.log.info(line)
        if not plan.batches:
            return SensorResult(
                skip_reason=SkipReason(f"no new claims files in {root} ({'full scan' if full else 'recent days'})"),
                cursor=plan.cursor.serialize(),
            )
        # a new home's first runs make the synthetic feed's customers too (when it is on and they were never made)
        graph = context.repository_def.asset_graph if context.repository_def is not None else None
        selection = claims_run_selection(graph, context.instance) if graph is not None else None
        requests = [run_request(batch, selection) for batch in plan.batches]
        return SensorResult(run_requests=requests, cursor=plan.cursor.serialize())

    return claims_landing_sensor


class ListingError(RuntimeError):
    """The landing area could not be listed (wrong credentials, an endpoint out of reach, no such bucket)."""

"""Intake's figure: survey import rows per second (100,000 rows; 2,000 with --quick) through POST /v1/surveys.

The durable single-request rate against a bare FastAPI endpoint is measured by the pipeline bench.
Run alone: `python -m bench.measure_intake [--quick]` (starts its own broker, PostgreSQL and intake).
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import sys
import time

import httpx

from bench.core import BenchStack, Figure
from shared.catalogue import Catalogue, load_catalogue
from shared.settings import ServiceSettings

ROWS = 100_000
QUICK_ROWS = 2_000
MAX_FILE_BYTES = 18 * 1024 * 1024  # under intake's 20 MB survey limit, with room for the multipart envelope
HEADER = ["序号", "社区", "网格", "地址", "问题描述", "纬度", "经度", "姓名", "联系电话", "是否空巢老人", "提交时间"]
# What residents write, per category; a few have no keyword at all and go to triage.
TEXTS = [
    "{b}号楼前路灯不亮了, 晚上很黑",
    "{b}号楼停水了, 水龙头一滴水都没有",
    "楼道里堆满了杂物和花盆, {b}号楼",
    "家里暖气不热, 室温很低",
    "楼下广场舞太吵, 噪音扰民",
    "社区没有老年食堂, 老人吃饭难",
    "买菜难, 附近没有菜市场",
    "暑假孩子没地方玩, 希望有兴趣班",
    "邻居吵架纠纷, 需要调解",
    "空巢老人需要有人代购买药",
    "树枝挡窗, 需要修剪",
    "希望社区多组织一些活动",
]


def survey_files(catalogue: Catalogue, rows: int, *, seed: int = 311) -> list[bytes]:
    """CSV files (UTF-8) of `rows` opinions over every community; split to stay under the upload limit."""
    rng = random.Random(seed)
    communities = list(catalogue.communities)
    files: list[bytes] = []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in range(rows):
        community = rng.choice(communities)
        building = rng.randint(1, 400)
        located = rng.random() < 0.5
        lat = f"{community.center.lat + rng.uniform(-0.004, 0.004):.5f}" if located else ""
        lon = f"{community.center.lon + rng.uniform(-0.004, 0.004):.5f}" if located else ""
        writer.writerow(
            [
                i + 1,
                community.name,
                "",
                f"{building}号楼{rng.randint(1, 6)}单元",
                rng.choice(TEXTS).format(b=building),
                lat,
                lon,
                "",
                f"138{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.3 else "",
                "是" if rng.random() < 0.05 else "",
                f"2020-05-{rng.randint(1, 28):02d} 10:00",
            ]
        )
        if out.tell() > MAX_FILE_BYTES:
            files.append(out.getvalue().encode("utf-8"))
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(HEADER)
    if out.tell() > len(",".join(HEADER)) + 2:
        files.append(out.getvalue().encode("utf-8"))
    return files


async def measure(stack: BenchStack) -> list[Figure]:
    """Upload the survey to the running intake and report rows per second, end to end (upload to response)."""
    rows = QUICK_ROWS if stack.quick else ROWS
    catalogue = load_catalogue(ServiceSettings().catalogue_path)
    files = await asyncio.to_thread(survey_files, catalogue, rows)
    headers = {"Authorization": f"Bearer {stack.keys['admin']}"}
    totals = {"created": 0, "duplicates": 0, "rejected": 0}
    async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=1800) as client:
        started = time.perf_counter()
        for number, content in enumerate(files):
            resp = await client.post(
                "/v1/surveys", files={"file": (f"survey-{number}.csv", content, "text/csv")}, headers=headers
            )
            resp.raise_for_status()
            summary = resp.json()["summary"]
            for key in totals:
                totals[key] += summary[key]
        elapsed = time.perf_counter() - started
    counted = sum(totals.values())
    if counted != rows:
        raise RuntimeError(f"survey import answered for {counted} rows, sent {rows}")
    return [
        Figure(
            name="intake: survey import",
            value=round(rows / elapsed, 1),
            unit="rows/s",
            note=(
                f"{rows:,} rows in {len(files)} file(s), {elapsed:.1f} s; created {totals['created']:,}, "
                f"linked as duplicates {totals['duplicates']:,}, rejected {totals['rejected']:,}"
            ),
        )
    ]


async def _main(quick: bool) -> None:
    from bench.stack import running_stack

    async with running_stack(quick=quick, label="intake", services=("intake",)) as running:
        for figure in await measure(running.stack):
            print(f"{figure.name}: {figure.value} {figure.unit} ({figure.note})")


if __name__ == "__main__":
    asyncio.run(_main("--quick" in sys.argv))

"""jetson_hil.tegrastats on every tegrastats sample in the facts (section 1), field by field."""

from __future__ import annotations

import contextlib
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jetson_hil.errors import ParseError
from jetson_hil.tegrastats import CpuCore, Engine, Iram, LogTail, Rail, TegrastatsSample, parse_line, read_log

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "tegrastats"


def load(name: str) -> str:
    """The one sample line of a fixture file; '#' lines (source, notes) are skipped."""
    lines = (DATA / name).read_text().splitlines()
    assert lines[0].startswith("# source: "), f"{name} must name its source on line 1"
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    assert len(body) == 1, f"{name} must hold exactly one sample"
    return body[0]


def cores(*entries: tuple[int, int] | None) -> list[tuple[int, int] | None]:
    return list(entries)


def same(n: int, load: int, freq: int) -> list[tuple[int, int] | None]:
    return [(load, freq)] * n


OFF = Engine(online=False)


def freq(mhz: int) -> Engine:
    return Engine(freq_mhz=mhz)


# Expected values, typed from the lines in the facts file. cpus: (load %, MHz) per core, None for 'off'.
# rails: (current, average[, peak]) mW. total: (total_power_mw, total_rail).
EXPECTED: dict[str, dict[str, Any]] = {
    "nano_r32_7_jp461_root.txt": dict(
        timestamp=None, ram=(1923, 3964), lfb=(2, 2048), swap=(191, 1982, 6), iram=Iram(0, 252, 252),
        cpus=cores((5, 1224), (4, 1224), (3, 1224), (6, 1224)),
        emc=(0, 1600), gpu=0, gpc=[76], engines={"APE": freq(25)},
        temps={"PLL": 37, "CPU": 40, "PMIC": 50, "GPU": 40, "AO": 45, "thermal": 40}, absent=[],
        rails={"POM_5V_IN": (1750, 1628), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (366, 406)},
        total=(1750, "POM_5V_IN"), gpu_temp=40),
    "tx2_r32_nonroot.txt": dict(
        timestamp=None, ram=(2020, 7852), lfb=(1164, 4096), swap=(None, None, None), iram=None,
        cpus=cores((9, 345), (21, 345), (25, 345), (3, 345), (1, 345), (1, 345)),
        emc=(0, None), gpu=0, gpc=[], engines={},
        temps={"PLL": 42.5, "MCPU": 42.5, "PMIC": 100, "Tboard": 40, "GPU": 41, "BCPU": 42.5, "thermal": 41.9,
               "Tdiode": 41.25}, absent=[],
        rails={"VDD_SYS_GPU": (153, 158), "VDD_SYS_SOC": (536, 547), "VDD_4V0_WIFI": (633, 527),
               "VDD_IN": (3140, 3208), "VDD_SYS_CPU": (536, 590), "VDD_SYS_DDR": (557, 601)},
        total=(3140, "VDD_IN"), gpu_temp=41),
    "xavier_nx_r35_4_1.txt": dict(
        timestamp=datetime(2024, 7, 9, 13, 31, 31), ram=(3168, 6851), lfb=(2, 4096), swap=(161, 3426, 0),
        iram=None, cpus=cores((23, 1397), (17, 1192), (16, 1190), (13, 1190), (23, 1190), (10, 1190)),
        emc=(2, 204), gpu=0, gpc=[114], engines={"VIC_FREQ": freq(115), "APE": freq(150)},
        temps={"AUX": 45, "CPU": 46.5, "thermal": 45.6, "AO": 45, "GPU": 45.5, "PMIC": 50}, absent=[],
        rails={"VDD_IN": (2763, 2846), "VDD_CPU_GPU_CV": (650, 670), "VDD_SOC": (650, 711)},
        total=(2763, "VDD_IN"), gpu_temp=45.5),
    "orin_agx_64gb_2025_04_11.txt": dict(
        timestamp=datetime(2025, 4, 11, 10, 36, 27), ram=(4321, 62801), lfb=(1759, 4096), swap=(19, 31400, 0),
        iram=None, cpus=same(12, 0, 729), emc=(0, 2133), gpu=0, gpc=[0, 0],
        engines={"VIC_FREQ": freq(729), "APE": freq(174)},
        temps={"CPU": 44.562, "Tboard": 32, "SOC2": 40.093, "Tdiode": 33, "SOC0": 41.093, "tj": 44.343,
               "SOC1": 41.25}, absent=["CV0", "CV1", "GPU", "CV2"],
        rails={"VDD_GPU_SOC": (2340, 2340), "VDD_CPU_CV": (390, 390), "VIN_SYS_5V0": (4025, 4025), "NC": (0, 0),
               "VDDQ_VDD2_1V8AO": (301, 301), "NC#2": (0, 0)},
        total=(2340 + 390 + 4025 + 301, None), gpu_temp=None),
    "orin_agx_r36_4_4_a.txt": dict(
        timestamp=datetime(2026, 5, 9, 18, 42, 6), ram=(18207, 62841), lfb=(466, 4096), swap=(86, 31420, 0),
        iram=None, cpus=cores((14, 2188), (5, 2112), (8, 2035), (14, 2201), (46, 1267), (47, 1267), (2, 1267),
                              (10, 1267), (4, 1036), (5, 1036), (6, 1036), (10, 1036)),
        emc=(3, 2133), gpu=0, gpc=[0, 0],
        engines={"NVENC": Engine(79, 166), "NVDEC": OFF, "NVJPG": OFF, "NVJPG1": OFF, "VIC": Engine(36, 115),
                 "OFA": OFF, "NVDLA0": OFF, "NVDLA1": OFF, "PVA0_FREQ": OFF, "APE": freq(174)},
        temps={"cpu": 52.562, "soc2": 48.437, "soc0": 49.093, "tj": 52.562, "soc1": 49.656}, absent=[],
        rails={"VDD_GPU_SOC": (2412, 2412), "VDD_CPU_CV": (1607, 1607), "VIN_SYS_5V0": (4707, 4707)},
        total=(2412 + 1607 + 4707, None), gpu_temp=None),
    "orin_agx_r36_4_4_b.txt": dict(
        timestamp=datetime(2026, 5, 9, 18, 42, 7), ram=(18202, 62841), lfb=(466, 4096), swap=(86, 31420, 0),
        iram=None, cpus=cores((16, 1949), (6, 1761), (4, 1222), (4, 2201), (4, 1036), (33, 1036), (0, 1036),
                              (40, 1036), (3, 1190), (46, 1190), (6, 1190), (2, 1190)),
        emc=(3, 2133), gpu=0, gpc=[0, 0],
        engines={"NVENC": Engine(78, 166), "NVDEC": OFF, "NVJPG": OFF, "NVJPG1": OFF, "VIC": Engine(32, 115),
                 "OFA": OFF, "NVDLA0": OFF, "NVDLA1": OFF, "PVA0_FREQ": OFF, "APE": freq(174)},
        temps={"cpu": 52.343, "soc2": 48.343, "soc0": 49.062, "tj": 52.343, "soc1": 49.531}, absent=[],
        rails={"VDD_GPU_SOC": (2412, 2412), "VDD_CPU_CV": (1607, 1607), "VIN_SYS_5V0": (4607, 4657)},
        total=(2412 + 1607 + 4607, None), gpu_temp=None),
    "orin_nano_super_r36_4_3_idle.txt": dict(
        timestamp=datetime(2026, 10, 8, 4, 38, 21), ram=(1343, 7620), lfb=(157, 4096), swap=(165, 3810, 3),
        iram=None, cpus=cores((0, 1497), *same(5, 0, 729)), emc=(15, 204), gpu=0, gpc=[305],
        engines={"NVDEC": OFF, "NVJPG": OFF, "VIC": OFF, "OFA": OFF, "APE": freq(200)},
        temps={"cpu": 48.562, "soc2": 46.593, "soc0": 48.625, "gpu": 49.625, "tj": 49.312, "soc1": 47.937},
        absent=[], rails={"VDD_IN": (5251, 8535), "VDD_CPU_GPU_CV": (512, 1944), "VDD_SOC": (2720, 3659)},
        total=(5251, "VDD_IN"), gpu_temp=49.625),
    "orin_nano_super_r36_4_3_busy.txt": dict(
        timestamp=datetime(2026, 10, 8, 4, 35, 2), ram=(6712, 7620), lfb=(12, 4096), swap=(369, 3810, 8),
        iram=None, cpus=cores((38, 1497), (2, 729), (1, 729), (0, 729), (1, 729), (0, 729)),
        emc=(61, 2133), gpu=99, gpc=[612],
        engines={"NVDEC": OFF, "NVJPG": OFF, "VIC": OFF, "OFA": OFF, "APE": freq(200)},
        temps={"cpu": 57.125, "soc2": 55.093, "soc0": 56.625, "gpu": 58.625, "tj": 58.312, "soc1": 55.937},
        absent=[], rails={"VDD_IN": (16321, 11204), "VDD_CPU_GPU_CV": (7104, 4944), "VDD_SOC": (3120, 3659)},
        total=(16321, "VDD_IN"), gpu_temp=58.625),
    "orin_nano_r36_idle.txt": dict(
        timestamp=datetime(2025, 9, 21, 15, 38, 17), ram=(3645, 7620), lfb=(63, 4096), swap=(236, 3810, 0),
        iram=None, cpus=cores((1, 729), (1, 729), (4, 729), (1, 729), (0, 729), (0, 729)),
        emc=(0, 204), gpu=0, gpc=[305],
        engines={"NVDEC": OFF, "NVJPG": OFF, "NVJPG1": OFF, "VIC": OFF, "OFA": OFF, "APE": freq(200)},
        temps={"cpu": 44.125, "soc2": 43.375, "soc0": 42.125, "gpu": 44.531, "tj": 44.531, "soc1": 43.156},
        absent=[], rails={"VDD_IN": (2957, 2957), "VDD_CPU_GPU_CV": (486, 486), "VDD_SOC": (1012, 1012)},
        total=(2957, "VDD_IN"), gpu_temp=44.531),
    "orin_nano_r36_nonroot.txt": dict(
        timestamp=datetime(2026, 3, 9, 14, 12, 52), ram=(1905, 7620), lfb=(36, 4096), swap=(320, 12002, 20),
        iram=None, cpus=cores((0, 729), (0, 729), (1, 729), (0, 729), (0, 729), (0, 729)),
        emc=(None, None), gpu=0, gpc=[], engines={},
        temps={"cpu": 46.125, "soc2": 45.843, "soc0": 44.156, "gpu": 45.062, "tj": 46.125, "soc1": 46},
        absent=[], rails={"VDD_IN": (4742, 4742), "VDD_CPU_GPU_CV": (482, 482), "VDD_SOC": (1446, 1446)},
        total=(4742, "VDD_IN"), gpu_temp=45.062),
    "thor_r38_4_0.txt": dict(
        timestamp=datetime(2026, 5, 17, 10, 0, 32), ram=(4208, 125773), lfb=(31, 4096), swap=(0, 2048, 0),
        iram=None, cpus=cores((1, 972), (0, 972), (0, 972), (0, 972), (1, 972), (0, 972), (1, 972), (1, 972),
                              (0, 972), (0, 972), (3, 972), (0, 972), (0, 972), (1, 972)),
        emc=(0, 665), gpu=None, gpc=[0, 0, 0],
        engines={"NVENC0_FREQ": freq(0), "NVENC1_FREQ": freq(0), "NVDEC0_FREQ": freq(0), "NVDEC1_FREQ": freq(0),
                 "NVJPG0_FREQ": freq(0), "VIC": OFF, "OFA_FREQ": freq(0), "PVA0_FREQ": OFF, "APE": freq(300)},
        temps={"cpu": 34.468, "tj": 34.5, "soc012": 33.781, "soc345": 34.5}, absent=[],
        rails={"VDD_GPU": (0, 0), "VDD_CPU_SOC_MSS": (4165, 4165), "VIN_SYS_5V0": (4126, 4126)},
        total=(4165 + 4126, None), gpu_temp=None),
    "orin_agx_r39_2_root.txt": dict(
        timestamp=datetime(2026, 7, 25, 9, 8, 28), ram=(20642, 62817), lfb=(1, 2048), swap=(None, None, None),
        iram=None, cpus=cores((23, 2201), (10, 2201), (4, 2201), (14, 2201), (30, 2201), (18, 2201), (10, 2201),
                              (10, 2201), (33, 2201), (7, 2201), (5, 2201), (27, 2201)),
        emc=(3, 3199), gpu=12, gpc=[1300, 1300],
        engines={"NVENC0": OFF, "NVDEC0": OFF, "NVJPG0": OFF, "NVJPG1": OFF, "VIC": OFF, "OFA": OFF,
                 "NVDLA0": OFF, "NVDLA1": OFF, "PVA0_FREQ": OFF, "APE": freq(174)},
        temps={"cpu": 52.968, "soc2": 48.406, "soc0": 49.531, "gpu": 47.625}, absent=[],
        temps2={"cpu": 52.968, "soc2": 48.406, "soc0": 49.531, "gpu": 47.625},
        rails={"VDD_GPU_SOC": (5139, 5139, 5139), "VDD_CPU_CV": (3268, 3268, 3268),
               "VIN_SYS_5V0": (5500, 5500, 5500)},
        total=(5139 + 3268 + 5500, None), gpu_temp=47.625),
    # jetson_stats emulator templates, random parts fixed as each file's note says
    "emu_tx1_nonroot.txt": dict(
        timestamp=None, ram=(385, 3984), lfb=(779, 4096), swap=(None, None, None), iram=None,
        cpus=cores((12, 204), (0, 204), (7, 204), (100, 204)), emc=(None, None), gpu=None, gpc=[], engines={},
        temps={"AO": 31, "CPU": 25, "GPU": 22, "PLL": 21.5, "Tdiode": 28.75, "PMIC": 100, "Tboard": 29,
               "thermal": 23.5}, absent=[], rails={}, total=(None, None), gpu_temp=22),
    "emu_tx1_root.txt": dict(
        timestamp=None, ram=(388, 3984), lfb=(779, 4096), swap=(None, None, None), iram=Iram(0, 252, 252),
        cpus=cores((3, 1734), (45, 1734), (0, 1734), (9, 1734)), emc=(0, 1600), gpu=17, gpc=[998],
        engines={"APE": freq(25)},
        temps={"AO": 30.5, "CPU": 25.5, "GPU": 23, "PLL": 21.5, "Tdiode": 28.5, "PMIC": 100, "Tboard": 28,
               "thermal": 24}, absent=[], rails={}, total=(None, None), gpu_temp=23),
    "emu_tx2_root.txt": dict(
        timestamp=None, ram=(696, 7854), lfb=(1675, 4096), swap=(None, None, None), iram=None,
        cpus=cores((1, 345), (2, 345), (3, 345), (4, 345), (5, 345), (6, 345)), emc=(1, 665), gpu=99, gpc=[140],
        engines={"APE": freq(150), "MTS_FG": Engine(load_percent=0), "MTS_BG": Engine(load_percent=0)},
        temps={"BCPU": 30, "MCPU": 30, "GPU": 28, "PLL": 30, "Tboard": 26, "Tdiode": 27, "PMIC": 100,
               "thermal": 29.2}, absent=[],
        rails={"VDD_IN": (1383, 1383), "VDD_CPU": (153, 191), "VDD_GPU": (76, 76), "VDD_SOC": (384, 384),
               "VDD_WIFI": (364, 335), "VDD_DDR": (192, 201)},
        total=(1383, "VDD_IN"), gpu_temp=28),
    "emu_agx_xavier_root.txt": dict(
        timestamp=None, ram=(408, 15823), lfb=(3702, 4096), swap=(0, 7911, 0), iram=None,
        cpus=cores(*((load, 2265) for load in (10, 20, 30, 40, 50, 60, 70, 80))), emc=(0, 2133), gpu=0,
        gpc=[1377], engines={"APE": freq(150), "MTS_FG": Engine(load_percent=0), "MTS_BG": Engine(load_percent=0)},
        temps={"AO": 26.5, "GPU": 28, "iwlwifi": 30, "Tdiode": 31.25, "PMIC": 100, "AUX": 27, "CPU": 28,
               "thermal": 27.45, "Tboard": 27}, absent=[],
        rails={"GPU": (1155, 1155), "CPU": (385, 385), "SOC": (2502, 2502), "CV": (0, 0), "VDDRQ": (192, 192),
               "SYS5V": (2692, 2692)},
        total=(1155 + 385 + 2502 + 192 + 2692, None), gpu_temp=28),
    "emu_orin_agx_32gb_jp5_nonroot.txt": dict(
        timestamp=datetime(2023, 1, 3, 16, 10, 22), ram=(2257, 30536), lfb=(5392, 4096), swap=(0, 15268, 0),
        iram=None, cpus=cores(*((load, 729) for load in (0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 10, 11))),
        emc=(0, None), gpu=42, gpc=[], engines={},
        temps={"CPU": 41.375, "Tboard": 29, "SOC2": 39, "Tdiode": 30.75, "SOC0": 38.906, "tj": 41.468,
               "SOC1": 38.843}, absent=["CV0", "CV1", "GPU", "CV2"], rails={}, total=(None, None), gpu_temp=None),
    "emu_orin_agx_32gb_jp5_root.txt": dict(
        timestamp=datetime(2023, 1, 3, 16, 7, 54), ram=(2257, 30536), lfb=(5392, 4096), swap=(0, 15268, 0),
        iram=None, cpus=cores(*((load, 729) for load in (5, 15, 25, 35, 45, 55, 65, 75, 85, 95, 2, 4))),
        emc=(0, 204), gpu=33, gpc=[0, 0],
        engines={"NVJPG1": freq(729), "VIC_FREQ": freq(115), "APE": freq(233)},
        temps={"CPU": 41.437, "Tboard": 29, "SOC2": 39.062, "Tdiode": 30.75, "SOC0": 39.031, "tj": 41.656,
               "SOC1": 38.937}, absent=["CV0", "CV1", "GPU", "CV2"],
        rails={"VDD_GPU_SOC": (2390, 2390), "VDD_CPU_CV": (796, 796), "VIN_SYS_5V0": (3522, 3522), "NC": (0, 0),
               "VDDQ_VDD2_1V8AO": (301, 301), "NC#2": (0, 0)},
        total=(2390 + 796 + 3522 + 301, None), gpu_temp=None),
    "emu_nano_nonroot.txt": dict(
        timestamp=None, ram=(330, 3964), lfb=(758, 4096), swap=(0, 1982, 0), iram=None,
        cpus=cores((8, 102), (9, 102), (10, 102), (11, 102)), emc=(0, None), gpu=5, gpc=[], engines={},
        temps={"PLL": 20.5, "CPU": 23, "PMIC": 100, "GPU": 22.5, "AO": 27, "thermal": 22.5}, absent=[],
        rails={"POM_5V_IN": (933, 933), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (84, 84)},
        total=(933, "POM_5V_IN"), gpu_temp=22.5),
    "emu_nano_root.txt": dict(
        timestamp=None, ram=(331, 3964), lfb=(758, 4096), swap=(0, 1982, 0), iram=Iram(0, 252, 252),
        cpus=cores((21, 102), (22, 102), (23, 102), (24, 102)), emc=(3, 204), gpu=76, gpc=[76],
        engines={"APE": freq(25)},
        temps={"PLL": 20.5, "CPU": 23.5, "PMIC": 100, "GPU": 22.5, "AO": 27.5, "thermal": 23}, absent=[],
        rails={"POM_5V_IN": (933, 933), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (84, 105)},
        total=(933, "POM_5V_IN"), gpu_temp=22.5),
    "emu_extra_tx2.txt": dict(
        timestamp=None, ram=(4722, 7844), lfb=(1, 512), swap=(149, 1024, 7), iram=None,
        cpus=cores((55, 2035), (14, 2034), (27, 2034), (55, 2035), (47, 2035), (45, 2035)),
        emc=(2, 1866), gpu=64, gpc=[1300],
        engines={"APE": freq(150), "MTS_FG": Engine(load_percent=0), "MTS_BG": Engine(load_percent=0),
                 "NVENC": freq(716), "NVDEC": freq(716)},
        temps={"BCPU": -45, "MCPU": -45, "GPU": -51, "PLL": 45, "AO": 47.5, "Tboard": 37, "Tdiode": 46.75,
               "PMIC": 100, "thermal": 46.4}, absent=[],
        rails={"VDD_IN": (14025, 14416), "VDD_CPU": (2209, 2538), "VDD_GPU": (6854, 6903), "VDD_SOC": (1371, 1370),
               "VDD_WIFI": (19, 19), "VDD_DDR": (2702, 2702)},
        total=(14025, "VDD_IN"), gpu_temp=-51),
}
NAMES = sorted(EXPECTED)


@pytest.fixture(params=NAMES)
def case(request: pytest.FixtureRequest) -> tuple[TegrastatsSample, dict[str, Any]]:
    return parse_line(load(request.param), strict=True), EXPECTED[request.param]


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in DATA.glob("*.txt")) == NAMES


def test_timestamp_and_nothing_unknown(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert sample.timestamp == want["timestamp"]
    assert sample.unknown == []


def test_memory(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert (sample.ram_used_mb, sample.ram_total_mb) == want["ram"]
    assert (sample.lfb_blocks, sample.lfb_size_kb) == want["lfb"]
    assert (sample.swap_used_mb, sample.swap_total_mb, sample.swap_cached_mb) == want["swap"]
    assert sample.iram == want["iram"]


def test_cpus(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    expected = [CpuCore(i, *entry) if entry else CpuCore(i, None, None, online=False)
                for i, entry in enumerate(want["cpus"])]
    assert sample.cpus == expected
    assert sample.cpus_online == sum(1 for entry in want["cpus"] if entry)


def test_emc_and_gpu(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert (sample.emc_load_percent, sample.emc_freq_mhz) == want["emc"]
    assert sample.gpu_load_percent == want["gpu"]
    assert sample.gpc_freqs_mhz == want["gpc"]
    assert sample.gpu_freq_mhz == (max(want["gpc"]) if want["gpc"] else None)


def test_engines(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert sample.engines == want["engines"]
    assert list(sample.engines) == list(want["engines"])


def test_temperatures(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert sample.temperatures == pytest.approx(want["temps"])
    assert list(sample.temperatures) == list(want["temps"])
    assert sample.absent_sensors == want["absent"]
    assert not set(sample.absent_sensors) & set(sample.temperatures)
    assert sample.temperatures_secondary == pytest.approx(want.get("temps2", {}))
    assert sample.gpu_temperature == pytest.approx(want["gpu_temp"])


def test_rails_and_total_power(case: tuple[TegrastatsSample, dict[str, Any]]) -> None:
    sample, want = case
    assert sample.rails == {name: Rail(*values) for name, values in want["rails"].items()}
    assert list(sample.rails) == list(want["rails"])
    assert (sample.total_power_mw, sample.total_rail) == want["total"]


# ------------------------------------------------------------------------------------------------------
# Forms the facts describe (1.3) without a verbatim line of their own

BASE = "RAM 1000/7620MB (lfb 10x4MB) CPU [1%@729]"


@pytest.mark.parametrize("tokens, gpu, gpc", [
    ("GR3D_FREQ 0%", 0, []),
    ("GR3D_FREQ 0%@1109", 0, [1109]),
    ("GR3D_FREQ 0%@305 GR3D2_FREQ 0%@0", 0, [305, 0]),
    ("GR3D_FREQ 0%@[114]", 0, [114]),
    ("GR3D_FREQ 12%@[1300,1300]", 12, [1300, 1300]),
    ("GR3D_FREQ @[0,0,0]", None, [0, 0, 0]),
    ("GR3D_FREQ @[314,314,314]", None, [314, 314, 314]),
    ("GR3D_FREQ @314", None, [314]),
    ("GR3D_FREQ @[314,314,314] GR3D2_FREQ 7%@[1]", 7, [314, 314, 314, 1]),
])
def test_gr3d_forms(tokens: str, gpu: int | None, gpc: list[int]) -> None:
    sample = parse_line(f"{BASE} {tokens}", strict=True)
    assert (sample.gpu_load_percent, sample.gpc_freqs_mhz) == (gpu, gpc)


def test_gr3d_first_token_carries_the_load() -> None:
    """Per jetson_stats #362 both GR3D tokens carry the same GPU load; the first one is taken."""
    assert parse_line(f"{BASE} GR3D_FREQ 3%@305 GR3D2_FREQ 4%@0").gpu_load_percent == 3


@pytest.mark.parametrize("token", ["GR3D_FREQ 12%@[1300,1300", "GR3D_FREQ 12%@1300,1300]", "GR3D_FREQ %@[1]",
                                   "GR3D_FREQ 12%@[]", "GR3D_FREQ 12%@[1300,,1300]", "GR3D_FREQ 12%1300"])
def test_broken_gr3d_is_never_half_read(token: str) -> None:
    """The PR #894 bug: a half-matched array loses the clocks silently. Here nothing is read and it says so."""
    sample = parse_line(f"{BASE} {token}")
    assert (sample.gpu_load_percent, sample.gpc_freqs_mhz) == (None, [])
    assert " ".join(sample.unknown) == token
    with pytest.raises(ParseError, match="not understood"):
        parse_line(f"{BASE} {token}", strict=True)


def test_offline_cores_are_kept() -> None:
    """Orin NX 16 GB shows 4 cores 'off'; they count as cores, offline, without load or clock."""
    sample = parse_line("RAM 1/2MB CPU [10%@1190,off,off,5%@1190,off,off,20%,3%@729] GR3D_FREQ 0%", strict=True)
    assert len(sample.cpus) == 8
    assert sample.cpus_online == 4
    assert [c.index for c in sample.cpus if not c.online] == [1, 2, 4, 5]
    assert sample.cpus[1] == CpuCore(1, None, None, online=False)
    assert sample.cpus[6] == CpuCore(6, 20, None)
    assert sample.cpu_load_percent == pytest.approx((10 + 5 + 20 + 3) / 4)


def test_total_power_prefers_the_board_rail() -> None:
    thor = load("thor_r38_4_0.txt") + " VIN 9000mW/9000mW"
    assert (parse_line(thor).total_power_mw, parse_line(thor).total_rail) == (9000, "VIN")
    both = f"{BASE} VDD_CPU 1/1 POM_5V_IN 50/50 VDD_IN 40/40"
    assert parse_line(both).total_power_mw == 50
    assert parse_line(f"{BASE} NC 5mW/5mW").total_power_mw is None
    assert parse_line(BASE).total_power_mw is None


def test_lfb_units_are_normalised_to_kb() -> None:
    assert parse_line("RAM 1/2MB (lfb 1x512kB)").lfb_size_kb == 512
    assert parse_line("RAM 1/2MB (lfb 3x4MB)").lfb_size_kb == 4096
    assert parse_line("RAM 1/2MB").lfb_blocks is None


def test_r39_temperature_pairs_and_three_value_rails() -> None:
    sample = parse_line(f"{BASE} cpu@52.968C/50.5C gpu@-256C/-256C tj@1C/-256C VDD_IN 3mW/2mW/9mW", strict=True)
    assert sample.temperatures == {"cpu": 52.968, "tj": 1.0}
    assert sample.temperatures_secondary == {"cpu": 50.5}
    assert sample.absent_sensors == ["gpu"]
    assert sample.rails["VDD_IN"] == Rail(3, 2, 9)


def test_unknown_tokens_are_kept_not_fatal() -> None:
    sample = parse_line(f"05-17-2026 10:00:32 {BASE} NEWTHING 12x FOO_BAR baz GR3D_FREQ 0%")
    assert sample.unknown == ["NEWTHING", "12x", "FOO_BAR", "baz"]
    assert sample.gpu_load_percent == 0
    with pytest.raises(ParseError) as info:
        parse_line(f"{BASE} NEWTHING", strict=True)
    assert "NEWTHING" in str(info.value)


def test_repeated_sections_are_not_trusted() -> None:
    """Two lines run together (a torn log) must not overwrite the first reading."""
    sample = parse_line("RAM 1/2MB CPU [1%@2] RAM 3/4MB CPU [5%@6] SWAP 1/2MB SWAP 3/4MB EMC_FREQ 1% EMC_FREQ 2%")
    assert (sample.ram_used_mb, sample.cpus[0].load_percent, sample.swap_used_mb) == (1, 1, 1)
    assert sample.emc_load_percent == 1
    assert sample.unknown == ["RAM", "3/4MB", "CPU", "[5%@6]", "SWAP", "3/4MB", "EMC_FREQ", "2%"]


def test_bad_timestamp_is_unknown() -> None:
    sample = parse_line(f"13-45-2024 99:99:99 {BASE}")
    assert sample.timestamp is None
    assert sample.unknown == ["13-45-2024", "99:99:99"]


@pytest.mark.parametrize("line", [
    "", "   ", "hello world", "APE 25 VDD_IN 1/1 cpu@40C", "RAM", "RAM 1/2", "CPU []", "CPU [abc]", "GR3D_FREQ",
    "GR3D_FREQ x%", "ram 1/2MB", "RAM 1/2MB".replace("1", "１"), "Traceback (most recent call last):",
    "07-25-2026 09:08:28", "RAM 1/" + "9" * 5000 + "MB",
])
def test_garbage_raises_parse_error(line: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_line(line)
    text = line.strip()
    assert info.value.text == (text if len(text) <= 200 else text[:200] + "...")
    assert "RAM, CPU or GR3D_FREQ" in str(info.value)


def test_parse_error_text_is_truncated() -> None:
    with pytest.raises(ParseError) as info:
        parse_line("x" * 5000)
    assert len(info.value.text) <= 210
    assert len(str(info.value)) < 400


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_line(b"RAM 1/2MB")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------
# Logs

LOG_LINES = [load(name) for name in ("orin_agx_r36_4_4_a.txt", "orin_agx_r36_4_4_b.txt", "thor_r38_4_0.txt")]


def test_read_log_text_and_stream() -> None:
    text = f"\n{LOG_LINES[0]}\n\n   \n{LOG_LINES[1]}\r\n{LOG_LINES[2]}"
    from_text = list(read_log(text))
    from_stream = list(read_log(io.StringIO(text)))
    assert [s.raw for s in from_text] == LOG_LINES
    assert [s.raw for s in from_stream] == LOG_LINES
    assert [s.timestamp for s in from_text] == [datetime(2026, 5, 9, 18, 42, 6), datetime(2026, 5, 9, 18, 42, 7),
                                                datetime(2026, 5, 17, 10, 0, 32)]


def test_read_log_names_the_bad_line() -> None:
    samples = read_log(f"{LOG_LINES[0]}\n\nsudo: a password is required\n{LOG_LINES[1]}\n")
    assert next(samples).raw == LOG_LINES[0]
    with pytest.raises(ParseError) as info:
        next(samples)
    assert info.value.line_number == 3
    assert info.value.text == "sudo: a password is required"
    assert str(info.value).startswith("line 3: ")


def test_read_log_strict() -> None:
    with pytest.raises(ParseError) as info:
        list(read_log(f"{LOG_LINES[0]}\n{BASE} NEW 1x\n", strict=True))
    assert info.value.line_number == 2


def test_log_tail_joins_partial_lines() -> None:
    tail = LogTail()
    text = "\n".join(LOG_LINES) + "\n"
    got: list[TegrastatsSample] = []
    for start in range(0, len(text), 7):
        got += tail.feed(text[start:start + 7])
    assert [s.raw for s in got] == LOG_LINES
    assert tail.flush() == []
    assert (tail.rejected, tail.errors, tail.line_number) == (0, [], 3)


def test_log_tail_keeps_bad_lines_and_flushes_the_last_one() -> None:
    tail = LogTail(max_errors=2)
    assert tail.feed("junk 1\njunk 2\r\n") == []
    assert [s.raw for s in tail.feed(f"{LOG_LINES[0]}\njunk 3\n{LOG_LINES[1]}")] == [LOG_LINES[0]]
    assert tail.rejected == 3
    assert [(e.line_number, e.text) for e in tail.errors] == [(2, "junk 2"), (4, "junk 3")]
    assert [s.raw for s in tail.flush()] == [LOG_LINES[1]]
    assert tail.flush() == []


def test_log_tail_drops_an_endless_line() -> None:
    tail = LogTail()
    assert tail.feed("x" * (LogTail.MAX_LINE_CHARS + 1)) == []
    assert tail.rejected == 1
    assert [s.raw for s in tail.feed("\n" + LOG_LINES[0] + "\n")] == [LOG_LINES[0]]


# ------------------------------------------------------------------------------------------------------
# Properties

PIECES = st.sampled_from([
    "RAM ", "SWAP ", "IRAM ", "CPU [", "]", "EMC_FREQ ", "GR3D_FREQ ", "GR3D2_FREQ ", "MTS fg ", " bg ", "APE ",
    "VDD_IN ", "NC ", "cpu@", "off", "%", "@", "[", ",", "/", "mW", "MB", "kB", "C", " ", "(lfb ", "x", ")",
    "(cached ", "-256", "0", "12", "99999", ".5", "-", "05-17-2026 10:00:32 ", "\n", "\t", "１",
])


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_line(text)
    with contextlib.suppress(ParseError):
        parse_line(text, strict=True)


@given(st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=40))
def test_token_soup_raises_only_parse_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    with contextlib.suppress(ParseError):
        sample = parse_line(text)
        assert sample.ram_used_mb is not None or sample.cpus or sample.gpu_load_percent is not None \
            or sample.gpc_freqs_mhz
    with contextlib.suppress(ParseError):
        list(read_log(text))
    LogTail().feed(text)


_INT = st.integers(0, 10**6)
_PCT = st.integers(0, 100)
_NAME = st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n not in {"RAM", "SWAP", "IRAM", "CPU", "EMC_FREQ", "MTS", "NC"} and not n.startswith("GR3D"))


@st.composite
def sample_lines(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A line in the R36/R39 format with random numbers, and the values it must parse back to."""
    want: dict[str, Any] = {}
    parts = []
    if draw(st.booleans()):
        stamp = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
        stamp = stamp.replace(microsecond=0)
        want["timestamp"] = stamp
        parts.append(stamp.strftime("%m-%d-%Y %H:%M:%S"))
    want["ram"] = (draw(_INT), draw(_INT))
    want["lfb"] = (draw(_INT), draw(st.sampled_from([4, 2])))
    parts.append("RAM {}/{}MB (lfb {}x{}MB)".format(*want["ram"], *want["lfb"]))
    want["swap"] = (draw(_INT), draw(_INT), draw(_INT))
    parts.append("SWAP {}/{}MB (cached {}MB)".format(*want["swap"]))
    cpus = draw(st.lists(st.one_of(st.none(), st.tuples(_PCT, _INT)), min_size=1, max_size=16))
    want["cpus"] = cpus
    parts.append("CPU [" + ",".join("off" if c is None else f"{c[0]}%@{c[1]}" for c in cpus) + "]")
    want["emc"] = (draw(_PCT), draw(_INT))
    parts.append("EMC_FREQ {}%@{}".format(*want["emc"]))
    want["gpu"] = draw(st.one_of(st.none(), _PCT))
    want["gpc"] = draw(st.lists(_INT, min_size=1, max_size=4))
    load = "" if want["gpu"] is None else f"{want['gpu']}%"
    parts.append(f"GR3D_FREQ {load}@[{','.join(map(str, want['gpc']))}]")
    engines = draw(st.dictionaries(_NAME, st.one_of(st.just(None), st.tuples(_PCT, _INT)), max_size=5))
    want["engines"] = {name: Engine(*e) if e else Engine(online=False) for name, e in engines.items()}
    parts += [f"{name} {'off' if e is None else f'{e[0]}%@{e[1]}'}" for name, e in engines.items()]
    temps = draw(st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
                                 st.integers(-40000, 120000), max_size=6))
    want["temps"] = {name: milli / 1000 for name, milli in temps.items() if milli != -256000}
    parts += [f"{name}@{milli / 1000:g}C" for name, milli in temps.items()]
    rails = draw(st.dictionaries(_NAME, st.tuples(_INT, _INT), max_size=4))
    want["rails"] = {name: Rail(*r) for name, r in rails.items()}
    parts += [f"{name} {r[0]}mW/{r[1]}mW" for name, r in rails.items()]
    return " ".join(parts), want


@given(sample_lines())
def test_generated_lines_parse_back_to_their_numbers(generated: tuple[str, dict[str, Any]]) -> None:
    line, want = generated
    sample = parse_line(line, strict=True)
    assert sample.timestamp == want.get("timestamp")
    assert (sample.ram_used_mb, sample.ram_total_mb) == want["ram"]
    assert (sample.lfb_blocks, sample.lfb_size_kb) == (want["lfb"][0], want["lfb"][1] * 1024)
    assert (sample.swap_used_mb, sample.swap_total_mb, sample.swap_cached_mb) == want["swap"]
    assert [None if not c.online else (c.load_percent, c.freq_mhz) for c in sample.cpus] == want["cpus"]
    assert (sample.emc_load_percent, sample.emc_freq_mhz) == want["emc"]
    assert (sample.gpu_load_percent, sample.gpc_freqs_mhz) == (want["gpu"], want["gpc"])
    assert sample.engines == want["engines"]
    assert sample.temperatures == pytest.approx(want["temps"])
    assert sample.rails == want["rails"]
    assert sample.unknown == []

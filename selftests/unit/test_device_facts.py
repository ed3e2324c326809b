"""jetson_hil.device: facts read through a command runner, on captured outputs and a fake runner."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from jetson_hil import device
from jetson_hil.device import DeviceFactError, DeviceFacts

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "nv_tegra_release"

# source: `COLUMNS=250 dpkg -l` on the simulated Orin Nano (jetson-hil sim, L4T 36.4.0), whose packages are
# real .deb packages installed with the real dpkg; plus one removed package ('rc') in the same layout.
DPKG_R36_4_0 = (
    "Desired=Unknown/Install/Remove/Purge/Hold\n"
    "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n"
    "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n"
    "||/ Name                           Version               Architecture Description\n"
    "+++-==============================-=====================-============-=============================================\n"
    "ii  cuda-runtime-12-6:arm64        12.6-1                arm64        CUDA Runtime native Meta-package\n"
    "ii  cuda-toolkit-12-6:arm64        12.6-1                arm64        CUDA Toolkit meta-package\n"
    "ii  libcudnn9-cuda-12:arm64        9.3.0-1+cuda12.6      arm64        cuDNN runtime libraries\n"
    "ii  libnvinfer10:arm64             10.3.0-1+cuda12.6     arm64        TensorRT runtime libraries\n"
    "ii  nvidia-container-toolkit:arm64 1.16.2-1              arm64        NVIDIA Container toolkit\n"
    "ii  nvidia-jetpack:arm64           6.1+b123              arm64        NVIDIA Jetpack Meta Package\n"
    "ii  nvidia-l4t-core:arm64          36.4.0-20240912212859 arm64        NVIDIA Core Package\n"
    "ii  nvidia-l4t-cuda:arm64          36.4.0-20240912212859 arm64        NVIDIA CUDA Package\n"
    "ii  nvidia-l4t-tools:arm64         36.4.0-20240912212859 arm64        "
    "NVIDIA Public Test Tools Package (tegrastats)\n"
    "ii  tensorrt:arm64                 10.3.0-1+cuda12.6     arm64        Meta package for TensorRT\n"
    "rc  libcudnn8:arm64                8.6.0.166-1+cuda11.4  arm64        cuDNN runtime libraries\n"
)
VERSION_JSON = '{\n   "cuda": {\n      "name": "CUDA SDK",\n      "version": "12.6.68"\n   }\n}'


def release_file(name: str) -> str:
    """A captured /etc/nv_tegra_release without its '# source:' comment line."""
    lines = (DATA / name).read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("# source:"))


class Result:
    def __init__(self, rc: int, stdout: str = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


class FakeDevice:
    """Answers the inner command of DeviceFacts' `timeout ... sh -c CMD` from a table of files and outputs."""

    def __init__(self, files: dict[str, str] | None = None, outputs: dict[str, Result] | None = None) -> None:
        self.files = files or {}
        self.outputs = outputs or {}
        self.commands: list[str] = []

    def __call__(self, wrapped: str) -> Result:
        argv = shlex.split(wrapped)
        assert argv[:4] == ["timeout", "-k", "2", argv[3]] and argv[4:6] == ["sh", "-c"], wrapped
        command = argv[6]
        self.commands.append(command)
        if command.startswith("cat "):
            path = shlex.split(command)[1]
            if path in self.files:
                return Result(0, self.files[path])
            return Result(1, "", f"cat: {path}: No such file or directory")
        for prefix, result in self.outputs.items():
            if command.startswith(prefix):
                return result
        return Result(127, "", f"sh: {command.split()[0]}: not found")


def orin_nano() -> FakeDevice:
    return FakeDevice(
        files={
            "/etc/nv_tegra_release": release_file("r36_4_0_generic_full.txt"),
            "/usr/local/cuda/version.json": VERSION_JSON,
        },
        outputs={"COLUMNS=250 dpkg -l": Result(0, DPKG_R36_4_0), "hostname": Result(0, "sim1\n")},
    )


def test_release_jetpack_and_stack_come_from_the_release_file():
    facts = DeviceFacts(orin_nano())
    assert facts.is_tegra
    assert facts.release.version == (36, 4, 0)
    assert facts.jetpack == "6.1"
    assert facts.stack is not None and facts.stack.cuda == "12.6"


def test_properties_re_read_the_device_on_every_access():
    fake = orin_nano()
    facts = DeviceFacts(fake)
    assert facts.release.version == (36, 4, 0)
    fake.files["/etc/nv_tegra_release"] = release_file("r35_4_1_t186ref.txt")
    assert facts.release.version == (35, 4, 1)
    assert facts.jetpack == "5.1.2"


def test_missing_release_file_is_not_a_jetson():
    facts = DeviceFacts(FakeDevice(outputs={"hostname": Result(0, "workstation\n")}))
    assert not facts.is_tegra
    with pytest.raises(DeviceFactError, match="nv_tegra_release is missing on workstation"):
        _ = facts.release


def test_garbage_release_file_names_the_file():
    facts = DeviceFacts(FakeDevice(files={"/etc/nv_tegra_release": "hello\n"}))
    with pytest.raises(DeviceFactError, match="cannot be read"):
        _ = facts.release


def test_packages_keep_only_installed_ones():
    facts = DeviceFacts(orin_nano())
    packages = facts.packages
    assert packages["nvidia-jetpack"] == "6.1+b123"
    assert "libcudnn8" not in packages  # 'rc': removed, config files left
    assert facts.package_group("cudnn") == {"libcudnn9-cuda-12": "9.3.0-1+cuda12.6"}
    assert set(facts.package_group("tensorrt")) == {"libnvinfer10", "tensorrt"}
    assert set(facts.package_group("cuda")) == {"cuda-runtime-12-6", "cuda-toolkit-12-6", "nvidia-l4t-cuda"}
    assert facts.l4t_core_version is not None and facts.l4t_core_version.version == (36, 4, 0)


def test_dpkg_failure_is_an_error_with_its_output():
    locked = Result(2, "", "dpkg-query: error: database locked")
    facts = DeviceFacts(FakeDevice(outputs={"COLUMNS=250 dpkg -l": locked}))
    with pytest.raises(DeviceFactError, match="database locked"):
        _ = facts.packages


def test_series_of_groups():
    packages = device.installed_packages(DPKG_R36_4_0)
    assert device.series_of_group("cuda", device.DeviceFacts(orin_nano()).package_group("cuda", packages)) == {
        "cuda-runtime-12-6": "12.6",
        "cuda-toolkit-12-6": "12.6",
    }
    assert device.series_of_group("nvidia-jetpack", {"nvidia-jetpack": "5.1.2-b104"}) == {"nvidia-jetpack": "5.1.2"}
    assert device.same_series("12.6.68", "12.6.10")
    assert not device.same_series("12.6", "12.2")


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (VERSION_JSON, "12.6.68"),
        ("CUDA Version 10.2.300\n", "10.2.300"),  # JetPack 4 version.txt
        ("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 11.4, V11.4.315\n", "11.4.315"),
        ('{"cuda": {"version": 12}}', None),
        ("{not json", None),
        ("", None),
    ],
)
def test_parse_cuda_version(text, version):
    assert device.parse_cuda_version(text) == version


def test_cuda_version_falls_back_from_json_to_txt():
    fake = FakeDevice(files={"/usr/local/cuda/version.txt": "CUDA Version 10.2.89\n"})
    assert DeviceFacts(fake).cuda_version == "10.2.89"
    assert DeviceFacts(FakeDevice()).cuda_version is None


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("NVIDIA Jetson Orin Nano Developer Kit", "orin-nano"),
        ("NVIDIA Jetson AGX Orin Developer Kit", "orin-agx"),
        ("NVIDIA Jetson Xavier NX Developer Kit", "xavier-nx"),
        ("NVIDIA Jetson Nano Developer Kit", "nano"),
        ("Raspberry Pi 4 Model B", None),
    ],
)
def test_module_from_model(model, key):
    module = device.module_from_model(model)
    assert (module.key if module else None) == key


def test_module_from_tegrastats_needs_exactly_one_match():
    rails = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    assert device.module_from_tegrastats(6, 7620, rails).key == "orin-nano"
    assert device.module_from_tegrastats(6, 6851, rails).key == "xavier-nx"
    assert device.module_from_tegrastats(6, None, rails) is None  # Orin Nano or Xavier NX: ambiguous
    assert device.module_from_tegrastats(12, 62841, {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"}).key == "orin-agx"


def test_docker_runtimes_from_docker_info():
    info = (
        '{"Runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "nvidia-container-runtime"}}, '
        '"DefaultRuntime": "nvidia"}'
    )
    facts = DeviceFacts(FakeDevice(outputs={"docker info": Result(0, info)}))
    assert facts.docker_runtimes == ["nvidia", "runc"]
    assert facts.docker_default_runtime == "nvidia"


def test_privileged_commands_use_sudo_n_only_when_asked():
    fake = FakeDevice(outputs={"if [": Result(0, "{}")})
    DeviceFacts(fake, sudo=True).run("tegrastats --interval 1000", privileged=True)
    assert "sudo -n sh -c 'tegrastats --interval 1000'" in fake.commands[-1]
    fake = FakeDevice(outputs={"tegrastats": Result(0, "")})
    DeviceFacts(fake, sudo=False).run("tegrastats --interval 1000", privileged=True)
    assert fake.commands[-1] == "tegrastats --interval 1000"


def test_commands_are_bounded_by_timeout_on_the_device():
    """The wrapper really stops a command that hangs (run locally through sh)."""

    def local(command: str) -> Result:
        proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=20)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    facts = DeviceFacts(local, timeout_s=0.5)
    out = facts.run("sleep 5")
    assert out.rc == 124
    assert facts.run("echo 'a b'").stdout == "a b\n"


def test_runner_without_exit_status_is_reported():
    facts = DeviceFacts(lambda command: object())
    with pytest.raises(DeviceFactError, match="without an exit status"):
        facts.run("true")


def test_container_unavailable_names_status_and_last_log_line():
    log = (
        "2026-11-29T23:41:47.525871Z 2026-11-29T23:41:47.525Z vl_jepa: starting\n"
        "2026-11-29T23:41:47.526871Z 2026-11-29T23:41:47.526Z vl_jepa: invalid VL_JEPA_INPUT_SIZE='224px'\n"
    )
    exc = device.ContainerUnavailable("vl_jepa_agent", "restarting", (log,))
    assert "container vl_jepa_agent is restarting, not running" in str(exc)
    assert "its log ends with \"2026-11-29T23:41:47.526Z vl_jepa: invalid VL_JEPA_INPUT_SIZE='224px'\"" in str(exc)
    assert exc.breakage_key == device.ContainerUnavailable("vl_jepa_agent", "exited").breakage_key
    assert device.last_log_line("") == ""


def test_container_unavailable_quotes_the_error_before_a_closing_line():
    """A process that logs 'stopped' on its way out after the traceback: the error is the line worth quoting."""
    log = (
        "2026-12-06T17:53:23.9Z ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory\n"
        "2026-12-06T17:53:24.018Z vl_jepa: stopped\n"
    )
    message = str(device.ContainerUnavailable("vl_jepa_agent", "restarting", (log,)))
    assert "its log says 'ImportError: libcudnn.so.9: cannot open shared object file" in message
    assert "ends with 'vl_jepa: stopped'" in message


def test_container_unavailable_after_a_restart_does_not_say_running_not_running():
    message = str(device.ContainerUnavailable("vl_jepa_agent", "running"))
    assert "running, not running" not in message and "was not running when a command was started" in message


def test_an_exec_the_engine_lost_before_starting_it_is_run_again():
    """dockerd under load can answer 'No such exec instance': the command never ran, so one retry is safe."""
    from types import SimpleNamespace

    answers = [
        SimpleNamespace(rc=1, stdout="", stderr="Error response from daemon: No such exec instance: c42ed882"),
        SimpleNamespace(rc=0, stdout="jetson\n", stderr=""),
    ]
    facts = DeviceFacts(lambda command: answers.pop(0))
    assert facts.run("hostname").stdout == "jetson\n"
    assert not answers


def test_a_command_that_ran_and_failed_is_not_run_again():
    from types import SimpleNamespace

    calls = []

    def run(command):
        calls.append(command)
        return SimpleNamespace(rc=1, stdout="", stderr="cat: /etc/nv_tegra_release: No such file or directory")

    assert DeviceFacts(run).run("cat /etc/nv_tegra_release").rc == 1
    assert len(calls) == 1

"""The whole stack is alive and doing its job: every service the runbook restarts (Task 3 Step 2:
``docker compose up -d --force-recreate vl_jepa embedding_guard scene policy``) and the broker, judged by
its container (running, not paused, not restarting) and by what it publishes in the evidence window.

vl_jepa's own container and output are Task 2's and Tasks 3/5's checks; the understanding and actuation
topics are Task 6's (test_understanding_arrives, test_actuation_results_arrive). Here: the other services'
containers, embedding_guard's classifications (a known state, a class of its centroid file, keeping up with
the embeddings) and scene's embeddings block keeping up with the embeddings on the bus.
"""

from __future__ import annotations

import pytest

from jetson_hil.mqtt_recorder import json_objects
from jetson_hil.payloads import get_path

pytestmark = [pytest.mark.jetson, pytest.mark.mqtt, pytest.mark.task6]

SERVICES = ("embedding_guard", "scene", "policy", "mosquitto")
BROKER = "mosquitto"
EXITED = "is exited, exit code 0, not running"
# the faults that stop each service, and what its check then says (the live fault matrix, selftests/meta)
STOPPED_BY = {
    "embedding_guard": [
        pytest.mark.proven_by("guard_stopped", says=EXITED),
        pytest.mark.proven_by("guard_paused", says="docker unpause"),
    ],
    "scene": [
        pytest.mark.proven_by("scene_down", says=EXITED),
        pytest.mark.proven_by("scene_killed", says="is exited, exit code 137, not running"),
    ],
    "policy": [pytest.mark.proven_by("policy_stopped", says=EXITED)],
    "mosquitto": [pytest.mark.proven_by("broker_down", says="mosquitto (")],
}
GUARD_STATES = ("ok", "collecting", "error")  # what the guard publishes: a verdict, a collected sample, a problem
# How far a consumer may trail the embeddings it consumes before it counts as stuck. Measured on the simulator
# with a load average of 7 on 2 cores: the longest gap between two vision/guard messages was 0.67 s, between
# two progress/understanding messages 0.59 s (scene publishes at 2 Hz); 2.5 s is several times either.
KEEP_UP_S = 2.5


@pytest.fixture(scope="module")
def stack(container_only, agent_container, docker_client, profile):
    """Compose service -> its container (ContainerFacts) in the agent's compose project, by Docker's labels."""
    from jetson_hil.device import ContainerFacts

    labels = (agent_container.attrs or {}).get("Config", {}).get("Labels") or {}
    project = labels.get("com.docker.compose.project")
    if not project:
        pytest.fail(
            f"{agent_container.name} carries no compose project label: the services cannot be found. Fix: start the "
            f"stack with `{profile.compose.command} up -d` from the agents' project directory",
            pytrace=False,
        )
    listed = docker_client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"})
    return {(c.labels or {}).get("com.docker.compose.service"): ContainerFacts(docker_client, c.name) for c in listed}


def _bring_back(profile, service: str, container: str | None = None) -> str:
    """How to bring `service` back, in the runbook's own words (Task 3 Step 2)."""
    if profile.agents.host_processes:
        return f"restart the {service} process on the device and read its log"
    compose = profile.compose.command
    name = container or service
    return (
        f"`{compose} up -d --force-recreate {service}` in {profile.compose.project_dir} (`docker unpause {name}` when "
        f"it is paused), then `docker logs {name}` for why it stopped"
    )


@pytest.mark.container
@pytest.mark.parametrize("service", [pytest.param(s, marks=STOPPED_BY[s]) for s in SERVICES])
def test_service_is_running_and_not_restarting(service, stack, profile, attach):
    if service != BROKER and service not in profile.compose.services:
        pytest.skip(f"{service} is not in the profile's [compose] services {list(profile.compose.services)}")
    container = stack.get(service)
    if container is None and service == BROKER:
        pytest.skip(
            "the broker is not a service of the agents' compose project (a host broker): the MQTT checks prove it"
        )
    assert container is not None, (
        f"the compose project has no {service} container (services found: {sorted(filter(None, stack))}): "
        f"the pipeline needs it. Fix: {_bring_back(profile, service)}"
    )
    state = container.state
    status = container.status
    if status != "running":
        attach(f"{container.name} log (last 40 lines)", container.logs(40))
    assert status != "paused", (
        f"{service} ({container.name}) is paused: its processes are frozen and it does nothing. Fix: "
        f"`docker unpause {container.name}`"
    )
    exit_code = f", exit code {state.get('ExitCode')}" if status in ("exited", "dead") else ""
    assert status == "running" and not state.get("Restarting"), (
        f"{service} ({container.name}) is {status}{exit_code}, not running: the pipeline stops there. Fix: "
        f"{_bring_back(profile, service, container.name)}"
    )
    restarts = container.restart_count
    if restarts:
        attach(f"{container.name} log (last 40 lines)", container.logs(40))
    assert restarts == 0, (
        f"{service} ({container.name}) crashed and was restarted by Docker {restarts} time(s) since it was created "
        f"(last exit code {state.get('ExitCode')}): its log (attached) says why. Fix the cause, then "
        f"`{profile.compose.command} up -d --force-recreate {service}`"
    )


@pytest.mark.proven_by(
    "guard_stopped", "guard_paused", "guard_silent",
    says="embedding_guard published nothing on vision/guard",
)
def test_guard_classifies_the_embeddings(mqtt_window, profile, guard_classes, measure):
    """embedding_guard answers every embedding: a known state, a class of its centroid file, and it keeps up."""
    embeddings = mqtt_window.on(profile.topics.embeddings)
    if not embeddings:
        pytest.skip(f"no {profile.topics.embeddings} in the window: nothing to classify (vl_jepa's checks report it)")
    guard = json_objects(mqtt_window.on(profile.topics.guard))
    container = profile.containers.guard
    assert guard, (
        f"embedding_guard published nothing on {profile.topics.guard} in {mqtt_window.seconds:g} s while "
        f"{len(embeddings)} embeddings arrived: it is stopped, paused or stuck. Fix: "
        f"{_bring_back(profile, 'embedding_guard', container)}"
    )
    lag = embeddings[-1].received_mono - guard[-1][0].received_mono
    measure(
        "guard.lag_s",
        max(lag, 0.0),
        "s",
        high=KEEP_UP_S,
        doc="time from the guard's last message to the last embedding of the window (how far it trails)",
        fix=f"embedding_guard stopped classifying {lag:.1f} s before the last embedding: it is stuck, paused or "
        f"stopped. Fix: {_bring_back(profile, 'embedding_guard', container)}",
    )
    states = [obj.get("state") if isinstance(obj, dict) else None for _, obj in guard]
    unknown = sorted({repr(s) for s in states if s not in GUARD_STATES})
    assert not unknown, (
        f"embedding_guard published states {', '.join(unknown)} on {profile.topics.guard}; it knows "
        f"{', '.join(GUARD_STATES)}: another program publishes there, or the guard is not the project's. Fix: "
        f"{_bring_back(profile, 'embedding_guard', container)}"
    )
    if guard_classes.names is None:
        pytest.skip(f"the guard's classes are not known, so its verdicts are not checked: {guard_classes.why_unknown}")
    verdicts = {obj.get("verdict") for _, obj in guard if isinstance(obj, dict) and obj.get("state") == "ok"}
    strange = sorted(map(repr, verdicts - guard_classes.names))
    assert not strange, (
        f"embedding_guard answers {', '.join(strange)}, not a class of its centroid file "
        f"({', '.join(sorted(guard_classes.names))}): it runs with other centroids than the file. Fix: re-collect "
        f"the centroids, then {_bring_back(profile, 'embedding_guard', container)}"
    )


@pytest.mark.proven_by("scene_stale_embeddings", says="scene's embeddings block is stale")
def test_scene_keeps_up_with_the_embeddings(mqtt_window, profile, measure):
    """scene's understanding carries a fresh embeddings block: its last_seq trails the bus by at most KEEP_UP_S."""
    embeddings = json_objects(mqtt_window.on(profile.topics.embeddings))
    understanding = json_objects(mqtt_window.on(profile.topics.understanding))
    if not embeddings or not understanding:
        pytest.skip(
            "no embeddings or no understanding in the window (test_understanding_arrives and vl_jepa's checks "
            "report it)"
        )
    block_path = profile.fields.understanding_embeddings
    stale = []
    for m, obj in understanding:
        due = [(e, get_path(eo, profile.fields.seq, None)) for e, eo in embeddings]
        due = [(e, seq) for e, seq in due if e.received_mono <= m.received_mono - KEEP_UP_S and isinstance(seq, int)]
        if not due:
            continue
        before, wanted = due[-1]
        seen = get_path(obj, f"{block_path}.last_seq", None)
        if not (isinstance(seen, int) and seen >= wanted):
            stale.append(
                f"message {m.seq}: {block_path}.last_seq {seen!r}, but seq {wanted} was on the bus "
                f"{m.received_mono - before.received_mono:.1f} s before"
            )
    measure(
        "scene.stale_understanding",
        len(stale),
        "messages",
        high=0,
        doc=f"understanding messages whose embeddings block trails the bus by more than {KEEP_UP_S:g} s",
        fix=f"scene's embeddings block is stale: {'; '.join(stale[:2])}. scene no longer receives "
        f"{profile.topics.embeddings}. Fix: {_bring_back(profile, 'scene')}",
    )


ENV_PREFIXES = ("VL_JEPA_", "EMBEDDING_GUARD_")


def _unquoted(value: str) -> str:
    value = value.strip()
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" else value


@pytest.mark.container
@pytest.mark.proven_by("env_not_recreated", says="edited without recreating")
def test_services_run_the_env_file(stack, env_file, profile):
    """Task 3 step 2 / Task 5 step 4: after an edit of config/jetson.env the services are recreated, so the
    running containers' environment (`docker inspect`) has the file's VL_JEPA_* and EMBEDDING_GUARD_* values."""
    wanted = {k: _unquoted(v) for k, v in env_file.items() if k.startswith(ENV_PREFIXES)}
    if not wanted:
        pytest.skip(f"{profile.compose.env_file} sets no VL_JEPA_* or EMBEDDING_GUARD_* key")
    differ = []
    for service in profile.compose.services:
        container = stack.get(service)
        if container is None or not container.exists:
            continue  # a missing service is test_service_is_running_and_not_restarting's finding
        env = {k: _unquoted(v) for k, v in container.env.items() if k.startswith(ENV_PREFIXES)}
        if not env:
            continue  # this service is not given the env file
        for key, value in sorted(wanted.items()):
            if env.get(key) != value:
                seen = "unset" if key not in env else repr(env[key])
                differ.append(f"{service}: {key} is {seen} in {container.name}, {value!r} in the file")
    services = " ".join(profile.compose.services)
    assert not differ, (
        f"the running containers do not run {profile.compose.env_file}: "
        + "; ".join(differ[:4])
        + (f" (+{len(differ) - 4} more)" if len(differ) > 4 else "")
        + f". The file was edited without recreating the services. Fix: `{profile.compose.command} up -d "
        f"--force-recreate {services}` (the runbook's Task 3 step 2)"
    )

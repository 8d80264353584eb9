"""Plays medsim episodes through OpenEnv's generic client (PyPI: openenv-core), unmodified.

    python python/openenv_client.py http://127.0.0.1:8000

The policy here is scripted (ask, order a test, diagnose); a trainer puts its model there.
The reward arrives with the step that diagnoses: 1 when the judge accepts the primary
diagnosis, 0 otherwise, minus the server's per-turn and per-test costs.
"""

import sys

from openenv.core import GenericEnvClient


def play(env, case_id, diagnosis):
    """One episode; returns (reward, metadata of the last observation, observations seen)."""
    result = env.reset(seed=1, episode_id=f"example-{case_id}", case_id=case_id)
    seen = [result.observation]
    assert not result.done, result
    assert result.observation["turn"] == 1 and result.observation["presentation"], result
    for action in (
        {"tool": "ask", "arguments": {"question": "What brings you in today, and since when?"}},
        {"tool": "order_tests", "arguments": {"tests": ["Serum glucose", "Arterial blood gas"]}},
        {"tool": "diagnose", "arguments": {"primary": diagnosis}},
    ):
        result = env.step(action)
        seen.append(result.observation)
        if result.done:
            break
    assert result.done, result
    return result.reward, result.observation["metadata"], seen


def main(base_url):
    with GenericEnvClient(base_url=base_url).sync() as env:
        reward, metadata, seen = play(env, "endo-01", "Diabetic ketoacidosis")
        assert reward == 1.0, (reward, metadata)
        assert metadata["breakdown"]["verdict"] == 1.0, metadata
        # Nothing before the end named the diagnosis.
        assert all("ketoacidosis" not in str(observation).lower() for observation in seen[:-1]), seen
        wrong, metadata, _ = play(env, "endo-01", "Gastroenteritis")
        assert wrong == 0.0, (wrong, metadata)
        hedged, metadata, _ = play(env, "endo-01", "Diabetic ketoacidosis or gastroenteritis")
        assert hedged == 0.0 and "hedged_diagnosis" in metadata["flags"], metadata
        # Acting after the end is an error; the session stays usable.
        try:
            env.step({"tool": "ask", "arguments": {"question": "Anything else?"}})
            raise AssertionError("a step after done was accepted")
        except RuntimeError as error:
            assert "episode_done" in str(error), error
        try:
            env.reset(seed=2)
            env.step({"tool": "ask", "arguments": {}})
            raise AssertionError("an action without its question was accepted")
        except RuntimeError as error:
            assert "action.arguments.question" in str(error), error
        state = env.state()
        assert state["step_count"] == 0, state
    print("openenv client: 3 episodes, rewards 1.0 / 0.0 / 0.0 (hedge flagged), errors named")


if __name__ == "__main__":
    main(sys.argv[1])

"""A TRL `environment_factory`-style environment over `medsim env serve`.

TRL's GRPO trainer with tools calls `reset(**row)` with a dataset row, exposes one method per
tool to the model (their docstrings and type hints are the tool schemas), and reads the reward
once the episode is over. This class does that with OpenEnv's generic client; nothing in it is
specific to a trainer.

    env = MedsimEnvironment("http://127.0.0.1:8000")
    print(env.reset(case_id="endo-01"))
    print(env.ask("What brings you in?"))
    print(env.diagnose("Diabetic ketoacidosis"), env.reward)
"""

import json
import sys

from openenv.core import GenericEnvClient


class MedsimEnvironment:
    """One consultation at a time; the model is the doctor."""

    def __init__(self, base_url: str):
        self._env = GenericEnvClient(base_url=base_url).sync()
        self._env.connect()
        self.reward = 0.0
        self.done = False
        self.metadata = {}

    def reset(self, **row) -> str:
        """Starts an episode; `row` may carry case_id and seed (GRPO rows from `medsim export --format grpo`)."""
        keys = {key: row[key] for key in ("case_id", "seed", "episode_id") if key in row}
        result = self._env.reset(**keys)
        self.reward, self.done, self.metadata = 0.0, False, {}
        return result.observation["presentation"]

    def _act(self, tool: str, arguments: dict) -> str:
        result = self._env.step({"tool": tool, "arguments": arguments})
        self.done = result.done
        self.metadata = result.observation.get("metadata", {})
        if result.done:
            self.reward = result.reward or 0.0
            return "The consultation is over."
        return result.observation["text"]

    def ask(self, question: str) -> str:
        """Ask the patient one question.

        Args:
            question: The question, in plain words.
        """
        return self._act("ask", {"question": question})

    def order_tests(self, tests: list[str]) -> str:
        """Order examinations or tests by name.

        Args:
            tests: Test names, e.g. ["Complete blood count", "Chest X-ray"].
        """
        return self._act("order_tests", {"tests": tests})

    def request_images(self) -> str:
        """See the case images, if there are any."""
        return self._act("request_images", {})

    def diagnose(self, primary: str) -> str:
        """Commit to one diagnosis; this ends the consultation.

        Args:
            primary: The single most likely diagnosis.
        """
        return self._act("diagnose", {"primary": primary})

    def close(self):
        self._env.close()


if __name__ == "__main__":
    env = MedsimEnvironment(sys.argv[1])
    brief = env.reset(case_id="endo-01", seed=3)
    assert brief, brief
    answer = env.ask("What brings you in?")
    assert answer and not env.done, answer
    env.order_tests(["Serum glucose"])
    env.diagnose("Diabetic ketoacidosis")
    assert env.done and env.reward == 1.0, (env.reward, env.metadata)
    env.close()
    print(json.dumps({"trl_environment": "ok", "reward": env.reward}))

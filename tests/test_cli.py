"""Every lesson's command line refuses bad input the same way: exit status 2, nothing on
stdout, and one line on stderr that names the flag. In-process: the same parser and exit path
as ``python -m snippets.<module>``, without starting a second interpreter per case."""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable

import pytest
from conftest import ROOT

from snippets import manifest

# One bad input per line: the command, its arguments, and after "|" what the error line must
# say besides the flag (the first argument). Every command is also given ``--seed -1``.
BAD_INPUT = """
a2_rl_ecosystem_overview                      --timesteps 0
a2_rl_ecosystem_overview                      --algo dqn
a2_rl_ecosystem_overview                      --env-id CartPol-v1           | Did you mean: `CartPole`?
a2_rl_ecosystem_overview                      --env-id Blackjack-v1
a2_rl_ecosystem_overview                      --env-id Taxi-v3              | Taxi-v4
a3_mdp_and_bellman                            --gamma 1.5
a3_mdp_and_bellman                            --tol -1
a3_mdp_and_bellman                            --world 3x3
a3_mdp_and_bellman                            --gamma 1
b0_multi_armed_bandits                        --epsilons 0.1 1.5
b0_multi_armed_bandits                        --runs -3
b0_multi_armed_bandits                        --ucb-c 0
b1_tabular_q_learning                         --episodes -5
b1_tabular_q_learning                         --epsilon-end 1.2
b1_tabular_q_learning                         --map 5x5
b2_monte_carlo_methods                        --gym-episodes 0
b2_monte_carlo_methods                        --grid-episodes -1
b3_deep_q_networks_dqn                        --timesteps -5
b3_deep_q_networks_dqn                        --exploration-final-eps 1.5
b3_deep_q_networks_dqn                        --learning-rate 0
b3_deep_q_networks_dqn                        --exploration-fraction 0
b3_deep_q_networks_dqn                        --seeds 0
benchmark                                     --seeds 0
benchmark                                     --lesson z9
c0_policy_gradients_reinforce                 --episodes 0
c0_policy_gradients_reinforce                 --gamma 1.5
c0_policy_gradients_reinforce                 --lr -1
c0_policy_gradients_reinforce_jax             --episodes 7
c0_policy_gradients_reinforce_jax             --seeds 0
c0_policy_gradients_reinforce_speed           --episodes 7
c0_policy_gradients_reinforce_speed           --race fast
c1_actor_critic_methods_a2c                   --timesteps 0
c1_actor_critic_methods_a2c                   --ent-coef 2
c1_actor_critic_methods_a2c                   --lr -1
c1_actor_critic_methods_a2c                   --compare-curve /no/such.json
c1_actor_critic_methods_a2c                   --load-runs /no/such.json
c2_proximal_policy_optimization_ppo           --clip-coef 1.5
c2_proximal_policy_optimization_ppo_cartpole  --timesteps 0
c2_proximal_policy_optimization_ppo_cartpole  --gamma 2
c2_proximal_policy_optimization_ppo_cartpole  --clip-coef 0
c2_proximal_policy_optimization_ppo_cartpole  --impl cleanrl
c3_continuous_actions_ppo_sac                 --algo dqn
c3_continuous_actions_ppo_sac                 --algo td3
c3_continuous_actions_ppo_sac                 --gamma 1.5
d1_reward_modeling_concepts                   --pairs 0
d2_rlhf_llm_with_pytorch                      --kl-coef -1
d3_grpo_rloo_and_dpo                          --epsilon 1.5
d3_grpo_rloo_and_dpo                          --aggregation mean
d3_grpo_rloo_and_dpo.rlvr                     --correct-fraction 2
d3_grpo_rloo_and_dpo.exact                    --vocab 1
e0_debugging_common_pitfalls                  --seeds 0
e0_debugging_common_pitfalls                  --pitfall typo
e0_debugging_common_pitfalls                  --iterations x
e0_debugging_common_pitfalls.sweep            --seeds 0
e0_debugging_common_pitfalls.sweep            --learning-rates 0.01,-1      | '-1' is not a positive number
e1_ethical_considerations_rl                  --gamma 1.5
e1_ethical_considerations_rl                  --bonus -1
e1_ethical_considerations_rl                  --trials 0
e2_further_learning_capstone_idea             --timesteps 0
e2_further_learning_capstone_idea             --eval-episodes x
e2_further_learning_capstone_idea             --check /nonexistent-capstone
regenerate                                    --run no-such-run
"""


def cases() -> list[tuple[str, list[str], str]]:
    """``BAD_INPUT`` as ``(module, arguments, text the line must contain)``."""
    found = []
    for line in BAD_INPUT.strip().splitlines():
        spec, _, text = line.partition("|")
        module, *args = spec.split()
        found.append((module, args, text.strip() or args[0]))
    return found


def modules_with_main() -> list[str]:
    """Every module of the manifest that defines ``main`` (a package: in ``__main__``)."""
    found = []
    for module in manifest.all_modules():
        if module.name.endswith(".__main__"):  # the package's command: listed as the package
            continue
        path = ROOT / "snippets" / module.name.replace(".", "/")
        files = (
            [path / "__init__.py", path / "__main__.py"]
            if path.is_dir()
            else [path.with_suffix(".py")]
        )
        if any(
            f.is_file() and re.search(r"^def main\(", f.read_text(encoding="utf-8"), re.M)
            for f in files
        ):
            found.append(module.name)
    return found


def load_main(module: str) -> Callable[[list[str]], dict]:
    """The module's ``main``; a package may define it in its ``__main__``."""
    found = getattr(importlib.import_module(f"snippets.{module}"), "main", None)
    return found or importlib.import_module(f"snippets.{module}.__main__").main


COMMANDS = modules_with_main()


def test_every_command_has_its_own_bad_input_cases() -> None:
    assert sorted({module for module, _, _ in cases()}) == sorted(COMMANDS)


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [(m, ["--seed", "-1"], "--seed") for m in COMMANDS] + cases(),
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(module, args, expected, capsys) -> None:
    main = load_main(module)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(SystemExit) as exit_info:
        warnings.simplefilter("always")  # a warning would be a second line on a terminal
        main(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and not caught, [str(w.message) for w in caught]
    assert len(lines) == 1 and args[0] in lines[0] and expected in lines[0], captured.err

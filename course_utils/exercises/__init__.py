"""Checkers for the notebooks' exercises, one module per notebook; every checker is importable from here.

Each ``check_*`` takes the learner's answer, prints one clear verdict with a hint, and returns a
`Verdict` (true when right). A checker never raises and never hangs: an unfinished exercise is "not done
yet", a crash inside the learner's code is reported in one line, and code that runs longer than
`core.TIME_LIMIT_S` seconds is stopped.
"""

from course_utils.exercises.adaptation import check_gradient_reversal, check_pseudo_label_selection
from course_utils.exercises.applications import check_grey_stem, check_mean_pool, check_top_k
from course_utils.exercises.core import NOT_DONE, Verdict
from course_utils.exercises.fewshot import check_episode_sampler, check_prototypes
from course_utils.exercises.finetuning import check_cosine_schedule, check_param_groups
from course_utils.exercises.practices import check_bn_eval, check_early_stopping, check_to_model_input
from course_utils.exercises.pretraining import check_mask_patches, check_nt_xent
from course_utils.exercises.strategies import STRATEGY_SCENARIOS, check_strategy_choices, check_trainable_fraction
from course_utils.exercises.transfer import (
    TRANSFER_TYPE_SCENARIOS,
    check_transfer,
    check_transfer_gain,
    check_transfer_types,
)

__all__ = [
    "NOT_DONE",
    "STRATEGY_SCENARIOS",
    "TRANSFER_TYPE_SCENARIOS",
    "Verdict",
    "check_bn_eval",
    "check_cosine_schedule",
    "check_early_stopping",
    "check_episode_sampler",
    "check_gradient_reversal",
    "check_grey_stem",
    "check_mean_pool",
    "check_mask_patches",
    "check_nt_xent",
    "check_param_groups",
    "check_prototypes",
    "check_pseudo_label_selection",
    "check_strategy_choices",
    "check_to_model_input",
    "check_top_k",
    "check_trainable_fraction",
    "check_transfer",
    "check_transfer_gain",
    "check_transfer_types",
]

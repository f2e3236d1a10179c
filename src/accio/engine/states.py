"""Kept for modules not yet switched: the state vocabulary and tables live in :mod:`accio.states`."""

from __future__ import annotations

from accio.states import DONE_NODE_STATES as DONE_NODE_STATES
from accio.states import NODE_TRANSITIONS as NODE_TRANSITIONS
from accio.states import RUN_TRANSITIONS as RUN_TRANSITIONS
from accio.states import TERMINAL_NODE_STATES as TERMINAL_NODE_STATES
from accio.states import TERMINAL_RUN_STATES as TERMINAL_RUN_STATES
from accio.states import InvalidTransition as InvalidTransition
from accio.states import check_node_transition as check_node_transition
from accio.states import parent_state_from_counts as parent_state_from_counts
from accio.states import parent_state_of as parent_state_of
from accio.states import run_progress as run_progress
from accio.states import run_state_of as run_state_of

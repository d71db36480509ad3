"""Tabular preference games: the game type, a library of instances, exact solvers."""

from workbench.games.game import GameError, PreferenceGame, gibbs, kl
from workbench.games.library import (
    bradley_terry,
    cyclic,
    from_win_counts,
    from_win_counts_csv,
    near_deterministic_mu,
    random_game,
    rock_paper_scissors,
    transitive_cyclic_mixture,
)
from workbench.games.solvers import SolverError, solve, solve_regularized, solve_unregularized

__all__ = [
    "GameError", "PreferenceGame", "gibbs", "kl", "bradley_terry", "cyclic", "from_win_counts", "from_win_counts_csv",
    "near_deterministic_mu", "random_game", "rock_paper_scissors", "transitive_cyclic_mixture",
    "SolverError", "solve", "solve_regularized", "solve_unregularized",
]
from workbench.games.bradley_terry_fit import BTFit, BTFitError, HodgeDecomposition, bt_game, bt_matrix, cyclic_share, fit_bradley_terry, hodge_decomposition  # noqa: E402
__all__ += ["BTFit", "BTFitError", "HodgeDecomposition", "bt_game", "bt_matrix", "cyclic_share", "fit_bradley_terry", "hodge_decomposition"]

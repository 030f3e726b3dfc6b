"""The clean board (issue 20): every recognition method merlib implements, on one protocol, side by side.

No MER leaderboard can be trusted as printed: several published codes keep, per test subject, the epoch that
scored best on that subject. The board prints, per method, the paper's number (with its dataset), merlib's
re-run under the clean policy ``last`` (fixed epochs, nothing selected on the test subject), the re-run with
``oracle_test`` (epoch chosen on the test subject, labelled OPTIMISTIC) and the inflation between the two —
all on the same dataset, the same LOSO folds and the same seed (fold seeds derive from the seed and the fold
name, :func:`merlib.eval.derive_seed`). Notebook ``90_results_board``; ``python -m merlib board --size quick``.

Usage::

    from merlib.papers import board
    b = board.run_board("quick", results_dir="runs/board")     # resumable: finished methods are read back
    b.table            # one row per method (fractions)
    print(b.note)      # what the numbers say, computed
    b.figure()         # methods × {paper, clean, OPTIMISTIC} dot plot with 95 % CIs
    b.save("runs/board")   # board.json (merlib.save_results record), board.csv, board.png

Columns of ``b.table`` (index: method): ``paper``; ``reported_source``, ``reported_dataset``,
``reported_metric`` (the merlib metric key the paper's number is compared with), ``reported_value``,
``reported_OPTIMISTIC_value`` (when the source measured test-set selection, e.g. MEB);
``clean_on_reported_metric`` / ``OPTIMISTIC_on_reported_metric`` (ours in the paper's metric, with
``*_ci_low``/``*_ci_high``) and ``delta_clean_vs_reported`` (through :func:`merlib.eval.compare` for a
``reported.yaml`` cell); ``clean_uf1`` / ``clean_uar`` / ``clean_accuracy_pooled`` /
``clean_accuracy_fold_mean`` (UF1 with ``clean_uf1_ci_low``/``_high``) and the same with ``OPTIMISTIC_``;
``inflation_<metric>`` = OPTIMISTIC − clean; ``rank_clean``, ``rank_OPTIMISTIC``; against the best clean
method (highest clean pooled UF1): ``vs_best_d_uf1`` (this − best) with ``vs_best_ci_low``/``_high`` and
``vs_best_p_bootstrap`` (paired bootstrap over subjects, :func:`merlib.eval.paired_bootstrap`) and McNemar's
exact test ``mcnemar_b``/``mcnemar_c``/``mcnemar_p`` (:func:`merlib.eval.mcnemar`, scipy's binomial test);
cost: ``train_seconds`` (sum of the runner's fold times: inputs, training and test passes, as recorded when
the folds ran), ``params_trainable``, ``params_total`` and ``gmacs`` (one forward on one sample of the first
fold's trained model, ``torch.utils.flop_counter``; frozen stages whose outputs are cached are not counted,
nor ops without a FLOP formula such as LSTM cells; parameters are those of the trained model object, so a
frozen backbone whose outputs are cached outside it is not counted either); ``resumed``. CIs: 95 % percentile bootstrap over subjects.

Data: ``merlib.data.synthetic.preset_for(run_size)`` with the MEGC2019 three classes (``classes="megc3"``) —
one label set, so every pair of methods can be tested clip by clip; ``run_board(dataset=...)`` takes a
licensed copy or the MEGC2019 composite instead.

Resume: with ``results_dir`` each method lives in ``<results_dir>/<name>-<identity key>/`` (identity:
method, its version and settings, run size, dataset clips, seed, policies). A finished method is read back
(``board_entry.json`` + ``result_<policy>.json``); a killed one continues at the fold and epoch it stopped
(:func:`merlib.eval.run`'s ``results_dir``); a changed setting gets a new folder. The rooms' feature caches
(``flow_baselines``, ``bai2021_features``, ``cmnet2023_features``) are the notebooks' own, so a board after
notebooks 03/10/13 reads their flow stacks and frozen features back.

Parallel: ``workers=N`` runs methods in a process pool (``spawn``, one torch thread each); ``executor="ray"``
one Ray task per method. The unit is a method (``merlib.eval.sweep`` takes neither a ``Task`` nor several
policies per training run, which the paper rooms need).

**Adding a paper is one registry entry** (in :mod:`merlib.papers.board.methods`, so worker processes see it)::

    def run_mmfrn(ctx, s, policies, results_dir, on_fold_end):
        from merlib.papers import mmfrn2022 as P           # the room's own pieces
        return P.loso(ctx.dataset, ..., policies=policies, seed=ctx.seed, device=ctx.device,
                      results_dir=results_dir, on_fold_end=on_fold_end)   # -> {policy: Result} via merlib.eval.run

    register(Method(name="MMFRN", run=run_mmfrn, paper="mmfrn2022",
                    settings={"quick": {"epochs": 5}, "standard": {"epochs": 30}},
                    reported=partial(reported_from_table, "mmfrn2022", "table4", ROW, COLUMN)))

``run`` must call :func:`merlib.eval.run` with ``policy=policies`` (``("last", "oracle_test")``: one training
run, both scored), ``results_dir`` and ``on_fold_end`` passed through, and return ``{policy: Result}``;
``settings`` per run size are JSON-able and part of the identity; ``reported`` points at the room's
``reported.yaml`` cell (:func:`reported_from_table`) or builds a :class:`Reported`.
"""
from merlib.papers.board.core import (BOARD_VERSION, CLEAN, OPTIMISTIC, REGISTRY, Board, BoardContext, Method,
                                      MethodRun, Reported, board_figure, board_note, board_table,
                                      load_board_dataset, measure_cost, metric_ci, register, registered,
                                      reported_from_table, run_board, run_method)
from merlib.papers.board import methods  # noqa: F401  (registers the built-in entries)

__all__ = ["BOARD_VERSION", "CLEAN", "OPTIMISTIC", "REGISTRY", "Board", "BoardContext", "Method", "MethodRun",
           "Reported", "board_figure", "board_note", "board_table", "load_board_dataset", "measure_cost",
           "metric_ci", "register", "registered", "reported_from_table", "run_board", "run_method"]

"""`prewarm sweep`: policy families over a grid of profile overrides, judged as frontiers.

grid (parse and check `--set`) -> families (which keys each family reads) -> plan
(distinct replays) -> run (cache, then an executor) -> results (frontiers, references) ->
report (sweep.json, tables) and plot (frontier.png).
"""

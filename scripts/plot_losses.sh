#!/usr/bin/env bash
# Draws every head's training loss (final and each exit) from a metrics.jsonl
# written by `BIN train` into one PNG, with gnuplot.
# Usage: scripts/plot_losses.sh RUN_DIR/metrics.jsonl OUT.png
set -euo pipefail
metrics=$1
out=$2
table=$(mktemp)
trap 'rm -f "$table"' EXIT
# One row per record: iteration, final loss, then each exit's loss; the header
# names the columns for the legend.
python3 - "$metrics" > "$table" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
if not records:
    sys.exit(f"{sys.argv[1]}: no records")
names = ["final"] + [f"exit {e['exit']} (layer {e['layer']})" for e in records[0]["exits"]]
print("iteration\t" + "\t".join(f'"{n}"' for n in names))
for r in records:
    print("\t".join([str(r["iteration"]), str(r["final"])] + [str(e["loss"]) for e in r["exits"]]))
PY
columns=$(head -1 "$table" | awk -F'\t' '{print NF}')
gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output "$out"
set title "training loss per head"
set xlabel "iteration"
set ylabel "cross-entropy (nats/token)"
set key top right
set grid
plot for [c=2:$columns] "$table" using 1:c with lines linewidth 2 title columnheader(c)
GP
echo "wrote $out"

# Sourced by the pack's wrapper scripts: sets MSPACK to the command that runs mspack.
# SKILL_ROOT must be the skill folder (or the mspack repository when run from a checkout).
# 1. The skill's own bin/mspack, when its `--version` is the one in bin/VERSION (the version the
#    skill was written for); a mismatch is an error, never a silent fallback.
# 2. Otherwise `mspack` on PATH (a warning when bin/VERSION names another version).
# 3. Otherwise, in an mspack checkout, `cargo run` of it.
want=""
if [[ -f "$SKILL_ROOT/bin/VERSION" ]]; then
  want="$(tr -d '[:space:]' <"$SKILL_ROOT/bin/VERSION")"
fi
if [[ -x "$SKILL_ROOT/bin/mspack" ]]; then
  have="$("$SKILL_ROOT/bin/mspack" --version 2>/dev/null || true)"
  if [[ -n "$want" && "$have" != "mspack $want" ]]; then
    echo "$(basename "$0"): $SKILL_ROOT/bin/mspack is '${have:-unrunnable}', but this skill was written for mspack $want; reinstall the skill with that mspack (mspack skill install)" >&2
    exit 2
  fi
  MSPACK=("$SKILL_ROOT/bin/mspack")
elif command -v mspack >/dev/null 2>&1; then
  have="$(mspack --version 2>/dev/null || true)"
  if [[ -n "$want" && "$have" != "mspack $want" ]]; then
    echo "$(basename "$0"): warning: running '${have:-mspack}' from PATH; this skill was written for mspack $want" >&2
  fi
  MSPACK=(mspack)
elif [[ -f "$SKILL_ROOT/crates/mspack/Cargo.toml" ]] && command -v cargo >/dev/null 2>&1; then
  MSPACK=(cargo run --quiet --release --manifest-path "$SKILL_ROOT/Cargo.toml" -p mspack --)
else
  echo "$(basename "$0"): no mspack: the skill has no bin/mspack and none is on PATH (install it: cargo install --path crates/mspack, then mspack skill install)" >&2
  exit 2
fi

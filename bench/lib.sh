# Sourced by the benchmark scripts: small readings shared by all of them.

# process_cpu_ticks PID: the CPU time (user + system, in clock ticks; see `getconf CLK_TCK`) the
# process has used so far. Fields 14 and 15 of /proc/PID/stat; the command name (field 2) is in
# parentheses and may hold spaces, so fields are counted from its closing parenthesis.
process_cpu_ticks() {
  local stat
  stat="$(<"/proc/$1/stat")"
  stat="${stat##*) }"
  local -a fields
  read -r -a fields <<<"$stat"
  echo $((fields[11] + fields[12]))
}

# json_number KEY TEXT: the number after "KEY": in a compact JSON TEXT (empty when absent).
json_number() {
  sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p" <<<"$2"
}

# Shell functions the bench scripts share; source it.

# free_port: a port on 127.0.0.1 where nothing listens, so connections to
# it are refused at once (the DOCKER column of ls shows Unknown without
# waiting for a timeout).
free_port() {
  local p
  for p in $(seq 2375 2475); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "no free port found" >&2
  exit 1
}

# clone_machines <store> <count>: machines m1..m(count-1) as copies of m0
# (which must exist), written with shell builtins only: config.json
# rewritten for the new name, the same certificates.
clone_machines() {
  local store=$1 n=$2 i d c
  local tpl ca cert key
  tpl=$(<"$store/machines/m0/config.json")
  ca=$(<"$store/machines/m0/ca.pem")
  cert=$(<"$store/machines/m0/cert.pem")
  key=$(<"$store/machines/m0/key.pem")
  local dirs=()
  for ((i = 1; i < n; i++)); do dirs+=("$store/machines/m$i"); done
  ((n > 1)) && mkdir -m 700 "${dirs[@]}"
  umask 077
  for ((i = 1; i < n; i++)); do
    d=$store/machines/m$i
    c=${tpl//\/machines\/m0\//\/machines\/m$i\/}
    c=${c//\/machines\/m0\"/\/machines\/m$i\"}
    c=${c//\"m0\"/\"m$i\"}
    printf '%s' "$c" >"$d/config.json"
    printf '%s\n' "$ca" >"$d/ca.pem"
    printf '%s\n' "$cert" >"$d/cert.pem"
    printf '%s\n' "$key" >"$d/key.pem"
  done
  umask 022
}

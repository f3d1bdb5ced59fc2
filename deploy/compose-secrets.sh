#!/bin/sh
# Create the Docker secrets docker-compose.yml reads, once, in ./secrets/ (or $1).
# Existing files are kept, so rerunning never changes a password the database
# already has or the admin key already registered.
#
#   sh deploy/compose-secrets.sh [DIR]
#
# The directory is 0700 (only you); the files are 0444 because Compose mounts
# them as they are and the containers' users (uid 10001, postgres) must read
# them. Keep the directory out of version control (.gitignore has secrets/).
set -eu

dir=${1:-secrets}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() {
    # URL-safe random text from the kernel's generator: $1 bytes of entropy.
    head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}

write() {
    if [ -s "$dir/$1" ]; then
        echo "kept    $dir/$1"
    else
        printf '%s' "$2" > "$dir/$1"
        chmod 0444 "$dir/$1"
        echo "created $dir/$1"
    fi
}

write lastmeter_token_secret "$(random 48)"
write lastmeter_admin_key "lm_admin_$(random 32)"
write postgres_password "$(random 24)"
write database_url "postgresql://postgres:$(cat "$dir/postgres_password")@postgres:5432/postgres"

echo "The admin API key is in $dir/lastmeter_admin_key; create others with"
echo "  docker compose run --rm init lastmeter keys --role department --scope water"

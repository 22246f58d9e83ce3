#!/usr/bin/env bash
# Prepare a fresh, unsealed Vault (or OpenBao, with VAULT_CLI=bao) for Strata:
# enable Transit and AppRole, write the three policies, and create the AppRoles
# strata-api, strata-worker and strata-admin. Safe to run again: mounts that exist
# are kept, and policies and roles are overwritten with the same content.
#
# Needs VAULT_ADDR and a token allowed to manage mounts, auth methods and policies
# (VAULT_TOKEN, e.g. a root token during setup). Prints each role's role id and a new
# secret id; put them in the services' environment (STRATA_VAULT_ROLE_ID,
# STRATA_VAULT_SECRET_ID_FILE), never in the repository.
#
# Settings (environment):
#   STRATA_VAULT_TRANSIT_MOUNT  Transit mount path (default transit). The policies
#                               name "transit"; other mounts are substituted in.
#   STRATA_VAULT_APPROLE_MOUNT  AppRole mount path (default approle)
#   TOKEN_TTL / TOKEN_MAX_TTL   lifetime of tokens from login (default 1h / 24h);
#                               Strata renews at two thirds of the TTL and logs in
#                               again after the max TTL
#   SECRET_ID_TTL               lifetime of a secret id (default 0: no expiry; set
#                               one if your deployment can rotate secret ids)
set -euo pipefail

cli=${VAULT_CLI:-vault}
transit=${STRATA_VAULT_TRANSIT_MOUNT:-transit}
approle=${STRATA_VAULT_APPROLE_MOUNT:-approle}
token_ttl=${TOKEN_TTL:-1h}
token_max_ttl=${TOKEN_MAX_TTL:-24h}
secret_id_ttl=${SECRET_ID_TTL:-0}
here=$(cd "$(dirname "$0")" && pwd)

: "${VAULT_ADDR:?set VAULT_ADDR to the Vault address, e.g. https://vault.internal:8200}"

if ! "$cli" secrets list -format=json | grep -q "\"${transit}/\""; then
  "$cli" secrets enable -path="$transit" transit
fi
if ! "$cli" auth list -format=json | grep -q "\"${approle}/\""; then
  "$cli" auth enable -path="$approle" approle
fi

for role in api worker admin; do
  sed "s#\"transit/#\"${transit}/#" "$here/policies/strata-${role}.hcl" | "$cli" policy write "strata-${role}" -
  "$cli" write "auth/${approle}/role/strata-${role}" \
    token_policies="strata-${role}" \
    token_ttl="$token_ttl" \
    token_max_ttl="$token_max_ttl" \
    secret_id_ttl="$secret_id_ttl" \
    secret_id_num_uses=0 >/dev/null

  role_id=$("$cli" read -field=role_id "auth/${approle}/role/strata-${role}/role-id")
  secret_id=$("$cli" write -f -field=secret_id "auth/${approle}/role/strata-${role}/secret-id")
  echo "strata-${role}: STRATA_VAULT_ROLE_ID=${role_id}"
  echo "strata-${role}: secret id (store it in a file of mode 0600): ${secret_id}"
done

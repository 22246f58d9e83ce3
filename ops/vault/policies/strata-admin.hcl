# Policy of the strata-admin AppRole, used by the operator commands that manage
# tenant keys: `strata tenant create` and `delete`, and `strata keys …`. Replace
# "transit" if STRATA_VAULT_TRANSIT_MOUNT names another mount.
#
# It can create, read, configure, rotate and delete transit keys (deletion still
# needs deletion_allowed, which only tenant deletion sets), and use them like the
# runtime roles. It can never export a key, back one up in plaintext or have Vault
# return a data key in plaintext.

path "transit/keys/*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "transit/keys/+/config" {
  capabilities = ["update"]
}

path "transit/keys/+/rotate" {
  capabilities = ["update"]
}

path "transit/decrypt/*" {
  capabilities = ["update"]
}

path "transit/encrypt/*" {
  capabilities = ["update"]
}

path "transit/rewrap/*" {
  capabilities = ["update"]
}

path "transit/datakey/wrapped/*" {
  capabilities = ["update"]
}

path "transit/datakey/plaintext/*" {
  capabilities = ["deny"]
}

path "transit/export/*" {
  capabilities = ["deny"]
}

path "transit/backup/*" {
  capabilities = ["deny"]
}

path "transit/restore/*" {
  capabilities = ["deny"]
}

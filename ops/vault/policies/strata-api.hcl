# Policy of the strata-api AppRole. Replace "transit" if STRATA_VAULT_TRANSIT_MOUNT
# names another mount.
#
# The API uses tenant data keys only: it may unwrap them (decrypt), make more of them
# wrapped (datakey/wrapped), and encrypt or rewrap under tenant keys. It can never see
# a key-encryption key or have Vault return a new data key in plaintext.

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

# Explicit denials, so that a broader policy attached by mistake cannot grant them.
path "transit/datakey/plaintext/*" {
  capabilities = ["deny"]
}

path "transit/export/*" {
  capabilities = ["deny"]
}

path "transit/backup/*" {
  capabilities = ["deny"]
}

path "transit/keys/*" {
  capabilities = ["deny"]
}

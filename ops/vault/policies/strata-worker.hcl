# Policy of the strata-worker AppRole. Replace "transit" if STRATA_VAULT_TRANSIT_MOUNT
# names another mount.
#
# The workers use tenant data keys only: they may unwrap them (decrypt), make more of
# them wrapped (datakey/wrapped, which the keys.rotate_dek job needs), and encrypt or
# rewrap under tenant keys. They can never see a key-encryption key or have Vault
# return a new data key in plaintext.

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

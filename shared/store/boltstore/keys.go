package boltstore

import "github.com/medshare/medshare/shared/store/storekeys"

// The items bucket holds each item of the single table (package storekeys) at
// PK + "\x00" + SK, and the by-actor index bucket each index entry at its own
// PK + "\x00" + SK. storekeys.CheckIDs rejects ids that hold "\x00", so a
// key cannot escape its partition, and a partition's keys are one contiguous
// range of the bucket, in sort key order.

// boltKey is the bbolt key of item k.
func boltKey(k storekeys.Key) []byte { return []byte(k.PK + "\x00" + k.SK) }

// partitionPrefix is the prefix of every bbolt key of partition pk whose sort
// key starts with skPrefix.
func partitionPrefix(pk, skPrefix string) []byte { return []byte(pk + "\x00" + skPrefix) }

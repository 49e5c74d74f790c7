package storekeys

import "time"

// The items of the sharing sessions (issue 4).
const (
	SharePKPrefix        = "SHARE#"    // share partition: SHARE#<share_id>
	ShareSK              = "SHARE"     // the share's only sort key
	IdemPKPrefix         = "IDEM#"     // idempotency partition: IDEM#<patient>
	IdemSKPrefix         = "KEY#"      // idempotency sort key: KEY#<idempotency key>
	AccessPKPrefix       = "ACCESS#"   // access partition: ACCESS#<access_id>
	AccessSK             = "ACCESS"    // the access's only sort key
	EphemeralKeyPKPrefix = "EKEY#"     // ephemeral key partition: EKEY#<key_id>
	EphemeralKeySK       = "EKEY"      // the key's only sort key
	InboxPKPrefix        = "INBOX#"    // inbox partition: INBOX#<recipient>
	InboxSKPrefix        = "NOTE#"     // notification sort key: NOTE#<notification_id>, ids sort by time
	SharesByPatientPK    = "SHAREPAT#" // shares-by-patient index partition: SHAREPAT#<patient>
	SharesByGranteePK    = "SHAREPRO#" // shares-by-grantee index partition: SHAREPRO#<professional>
)

// ShareKey is the key of share id.
func ShareKey(id string) Key { return Key{PK: SharePKPrefix + id, SK: ShareSK} }

// IdempotencyKey is the key of patient's idempotency key k.
func IdempotencyKey(patient, k string) Key {
	return Key{PK: IdemPKPrefix + patient, SK: IdemSKPrefix + k}
}

// AccessKey is the key of access id.
func AccessKey(id string) Key { return Key{PK: AccessPKPrefix + id, SK: AccessSK} }

// EphemeralKeyKey is the key of ephemeral key id.
func EphemeralKeyKey(id string) Key { return Key{PK: EphemeralKeyPKPrefix + id, SK: EphemeralKeySK} }

// InboxKey is the key of notification id in recipient's inbox. Notification
// ids are time-ordered (core.NewSortableID), so the inbox sorts by time.
func InboxKey(recipient, id string) Key {
	return Key{PK: InboxPKPrefix + recipient, SK: InboxSKPrefix + id}
}

// ShareIndexSK is the sort key of a share in the by-patient and by-grantee
// indexes: its creation time, fixed width, then its id, so that the indexes
// sort by creation time.
func ShareIndexSK(created time.Time, id string) string {
	return created.UTC().Format(ActorTimeLayout) + "#" + id
}

// SharesByPatientKey and SharesByGranteeKey are a share's entries in the two
// indexes (gsi1 and gsi2 in DynamoDB, index buckets in bbolt).
func SharesByPatientKey(patient string, created time.Time, id string) Key {
	return Key{PK: SharesByPatientPK + patient, SK: ShareIndexSK(created, id)}
}

// SharesByGranteeKey is a share's entry in the by-grantee index.
func SharesByGranteeKey(professional string, created time.Time, id string) Key {
	return Key{PK: SharesByGranteePK + professional, SK: ShareIndexSK(created, id)}
}

// Package core is MedShare's domain: the entities, the rules that protect
// them, the ports the adapters implement, and the Service, which has one
// method per operation. It imports no AWS package and no storage library:
// the same code runs in every Lambda function and in `medshare serve`.
//
// # The model
//
// A patient owns Photos, encrypted on the patient's device under a data key
// the service never sees in the clear (the key is wrapped by the KeyRing and
// stored beside the photo). A Share (a "sharing session" in the product's
// words; the wire paths say /v1/shares) grants one named professional views
// of some of a patient's photos until an expiry, for at most a number of
// views. On a device, the professional opens an Access to a share (a
// time-boxed window bound to the device's public key); each view spends one
// view of the share and issues an EphemeralKey: the photo's data key sealed
// to that device (HPKE), claimable once, for a short signed URL of the
// ciphertext. Revoking a share ends it at once; the suspicious-activity
// detector scores accesses and revokes on trusted signals. Every change of
// security state appends an AuditRecord to the patient's hash chain, in the
// same atomic write. Notifications go to each party's inbox and out through
// the Notifier. The chat product keeps ChatImages per Appointment
// (clinic-scoped, with its participants), including the old public chat's
// images imported from its export (LegacyImport) and moved into private
// storage.
//
// # The invariants
//
// The Service is the one place that authorizes (ARCHITECTURE §2.1): every
// method loads the resource and checks the caller against it, and an
// unauthorized caller gets the same not-found as for a resource that does
// not exist. Expiry is decided at read time against the caller's clock
// (Deps.Now), never by a job having run. Views are counted, and keys
// claimed, by conditional writes in the store, so that races cannot exceed a
// limit (the refusal rules are methods of the entities, e.g. Share's and
// EphemeralKey's, asked by the service and by both stores when a condition
// fails, so that every path answers the same code). Errors carry a Kind
// (errors.go) that the edge maps to a status and a stable code.
//
// # The ports
//
//   - Store (store.go): one port made of small interfaces, PhotoStore,
//     ChatStore, AuditStore, ShareStore, InboxStore, JobStore and Counter,
//     each with its contract in its doc; adapters store/boltstore and
//     store/dynamostore, contract suite store/storetest, the stored shapes
//     both share in store/storeitem and the key layout in store/storekeys.
//   - Blobs (ports.go): ciphertext and chat images, presigned PUT and GET;
//     blob/localblob, blob/s3blob (and blob/cdnblob for chat through
//     CloudFront), suite blob/blobtest.
//   - KeyRing (ports.go): wraps and unwraps data keys with an encryption
//     context of ids; keyring/localkeys, keyring/kmskeys, suite
//     keyring/keyringtest.
//   - Notifier (ports.go): publishes notifications; notify/localnotify,
//     notify/snsnotify, suite notify/notifytest.
//   - LegacyStore, LegacySource and ObjectImporter (legacy.go): the old
//     chat's images, their source bucket, and the blob stores' import;
//     legacy/httplegacy, legacy/s3legacy, suites legacy/legacytest and
//     legacy/legacysourcetest.
//
// The edge (shared/httpapi) turns requests into Service calls; the runtimes
// (shared/runtime) assemble the adapters: one Lambda function per operation
// (runtime/lambdafn) or one process (runtime/embedded).
package core

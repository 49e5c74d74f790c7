// Keeping device keys between visits. IndexedDB stores CryptoKey objects as
// they are (they are structured-cloneable), so a non-extractable private key
// stays non-extractable: the page can use it, never read it.

import type { DeviceStore, StoredDevice } from "./device.js";

/**
 * A {@link DeviceStore} in memory, for Node and tests. It keeps structured
 * clones, as IndexedDB does, so what it returns behaves like what a browser
 * would return.
 */
export class MemoryDeviceStore implements DeviceStore {
  private readonly devices = new Map<string, StoredDevice>();

  async get(name: string): Promise<StoredDevice | undefined> {
    const d = this.devices.get(name);
    return d === undefined ? undefined : structuredClone(d);
  }

  async put(name: string, d: StoredDevice): Promise<void> {
    this.devices.set(name, structuredClone(d));
  }

  async delete(name: string): Promise<void> {
    this.devices.delete(name);
  }
}

/** Options of an {@link IndexedDBDeviceStore}. */
export interface IndexedDBDeviceStoreOptions {
  /** The database's name (default "medshare"). */
  database?: string;
  /** The object store's name (default "devices"). */
  store?: string;
  /** The IndexedDB factory (default globalThis.indexedDB). */
  indexedDB?: IDBFactory;
}

/**
 * A {@link DeviceStore} in the browser's IndexedDB. Devices are stored as
 * {@link StoredDevice} records, CryptoKeys included.
 */
export class IndexedDBDeviceStore implements DeviceStore {
  private readonly database: string;
  private readonly storeName: string;
  private readonly factory: IDBFactory;
  private db: Promise<IDBDatabase> | undefined;

  constructor(opts: IndexedDBDeviceStoreOptions = {}) {
    this.database = opts.database ?? "medshare";
    this.storeName = opts.store ?? "devices";
    const f = opts.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!f) throw new TypeError("IndexedDB is not available here: use a MemoryDeviceStore");
    this.factory = f;
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = this.factory.open(this.database, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(this.storeName)) req.result.createObjectStore(this.storeName);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error("IndexedDB open blocked by another tab"));
    }).catch((e: unknown) => {
      this.db = undefined;
      throw e;
    });
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(this.storeName, mode);
      const req = op(tx.objectStore(this.storeName));
      let result: T;
      req.onsuccess = () => {
        result = req.result;
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error ?? req.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  async get(name: string): Promise<StoredDevice | undefined> {
    return (await this.run("readonly", (s) => s.get(name))) as StoredDevice | undefined;
  }

  async put(name: string, d: StoredDevice): Promise<void> {
    await this.run("readwrite", (s) => s.put(d, name));
  }

  async delete(name: string): Promise<void> {
    await this.run("readwrite", (s) => s.delete(name));
  }

  /** Closes the database connection (a later call opens it again). */
  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db).close();
  }
}

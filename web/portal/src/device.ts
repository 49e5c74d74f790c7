// This browser's device key, one per user: X25519, made by WebCrypto with
// extractable: false and kept in IndexedDB as the CryptoKey itself, so page
// scripts can use it to open keys sealed to it but can never read it.

import { Device, IndexedDBDeviceStore, KEM_X25519 } from "@medshare/client";

const devices = new Map<string, Promise<Device>>();

/** The device key of this browser for user sub, made and kept on first use. */
export function deviceFor(sub: string): Promise<Device> {
  let d = devices.get(sub);
  if (!d) {
    d = Device.loadOrCreate(new IndexedDBDeviceStore(), `user:${sub}`, KEM_X25519);
    d.catch(() => devices.delete(sub));
    devices.set(sub, d);
  }
  return d;
}

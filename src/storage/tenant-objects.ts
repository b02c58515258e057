/**
 * A tenant's R2 objects in one region's bucket, as moving it to another region needs them (src/tenants/move.ts).
 * Objects are sealed with the tenant's key and their own key as AAD (src/storage/sealed-objects.ts), so a byte copy
 * under the same key with the same metadata stays readable in the other bucket.
 */

/** Every key prefix that holds a tenant's objects (docs/storage-schema.md, R2). */
export const tenantObjectPrefixes = (tenantId: string) => [
  `audio/${tenantId}/`,
  `transcripts/${tenantId}/`,
  `tus/${tenantId}/`,
];

export interface ObjectTotals {
  objects: number;
  bytes: number;
}

async function eachObject(bucket: R2Bucket, tenantId: string, visit: (object: R2Object) => Promise<void>) {
  for (const prefix of tenantObjectPrefixes(tenantId)) {
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix, cursor });
      for (const object of page.objects) await visit(object);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
}

/** How many objects of the tenant a bucket holds, and their stored size. */
export async function tenantObjectTotals(bucket: R2Bucket, tenantId: string): Promise<ObjectTotals> {
  const totals = { objects: 0, bytes: 0 };
  await eachObject(bucket, tenantId, async (object) => {
    totals.objects++;
    totals.bytes += object.size;
  });
  return totals;
}

/** Copies every object of the tenant, bytes and metadata, streamed; returns the totals copied. */
export async function copyTenantObjects(from: R2Bucket, to: R2Bucket, tenantId: string): Promise<ObjectTotals> {
  const totals = { objects: 0, bytes: 0 };
  await eachObject(from, tenantId, async (listed) => {
    const object = await from.get(listed.key);
    if (!object) return; // deleted since listing (retention purge): verification tells
    // a stream of known length: R2 needs the size of a streamed body up front
    const sized = new FixedLengthStream(object.size);
    const piped = object.body.pipeTo(sized.writable);
    await to.put(listed.key, sized.readable, {
      httpMetadata: object.httpMetadata,
      customMetadata: object.customMetadata,
    });
    await piped;
    totals.objects++;
    totals.bytes += object.size;
  });
  return totals;
}

/** Deletes every object of the tenant in a bucket (1 000 keys per call, R2's bulk delete limit). */
export async function deleteTenantObjects(bucket: R2Bucket, tenantId: string): Promise<number> {
  const keys: string[] = [];
  await eachObject(bucket, tenantId, async (object) => {
    keys.push(object.key);
  });
  for (let i = 0; i < keys.length; i += 1000) await bucket.delete(keys.slice(i, i + 1000));
  return keys.length;
}

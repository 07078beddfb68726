// QMP wire messages (QEMU Machine Protocol), as QEMU sends them. Every line
// read from a socket goes through these schemas before anything trusts it.
import { z } from "zod";

export const QmpVersionSchema = z.object({
  qemu: z.object({ major: z.number().int(), minor: z.number().int(), micro: z.number().int() }),
  package: z.string(),
});

export const QmpGreetingSchema = z.object({
  QMP: z.object({
    version: QmpVersionSchema,
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof QmpGreetingSchema>;

const IdSchema = z.union([z.string(), z.number()]).optional();

export const QmpReturnSchema = z.object({ return: z.unknown(), id: IdSchema });
export const QmpErrorSchema = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id: IdSchema,
});
export const QmpEventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }),
});
export type QmpEvent = z.infer<typeof QmpEventSchema>;

export const QmpIncomingSchema = z.union([QmpGreetingSchema, QmpReturnSchema, QmpErrorSchema, QmpEventSchema]);

/** `query-commands` result: the commands this QEMU supports. */
export const QueryCommandsSchema = z.array(z.object({ name: z.string() }).passthrough());

/** `query-status` result. */
export const QueryStatusSchema = z.object({ running: z.boolean(), status: z.string() }).passthrough();

/** DEVICE_DELETED event data (QEMU sends `device` only for devices with an id). */
export const DeviceDeletedDataSchema = z.object({ device: z.string().optional(), path: z.string() });

import type { MetaStatus, MetaStatusStore } from "../../ports/meta-status.ts";
import type { TableClient } from "./table-client.ts";

const pk = (wabaId: string) => `METASTATUS#${wabaId}`;
const sk = (s: Pick<MetaStatus, "kind" | "phoneDigits">) =>
  s.kind === "account" ? "account" : `quality#${s.phoneDigits ?? ""}`;

/** One item per WABA account state and per number's quality, under the WABA's partition. */
export class DynamoMetaStatusStore implements MetaStatusStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async recordStatus(status: MetaStatus): Promise<void> {
    await this.#t.put(
      { pk: pk(status.wabaId), sk: sk(status), ...status },
      "attribute_not_exists(pk) OR #at <= :at",
      { "#at": "at" },
      { ":at": status.at },
    );
  }

  async statusesOf(wabaId: string): Promise<MetaStatus[]> {
    return (await this.#t.queryPartition(pk(wabaId))).map((item) => ({
      wabaId: String(item.wabaId),
      kind: item.kind === "account" ? "account" : "quality",
      ...(typeof item.phoneDigits === "string" ? { phoneDigits: item.phoneDigits } : {}),
      event: String(item.event),
      ...(typeof item.detail === "string" ? { detail: item.detail } : {}),
      at: String(item.at),
    }));
  }
}

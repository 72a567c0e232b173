import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { HistorySettings, HistoryStore } from "../../ports/history.ts";
import { isConditionFailure, type TableClient } from "./table-client.ts";

const key = (phoneId: string) => ({ pk: `HISTORY#${phoneId}`, sk: "HISTORY" });

/** Item `HISTORY#<phoneId>`: the switch, the budget and what Meta last said of its progress. */
export class DynamoHistoryStore implements HistoryStore {
  readonly #t: TableClient;

  constructor(tableClient: TableClient) {
    this.#t = tableClient;
  }

  async getHistorySettings(phoneId: string): Promise<HistorySettings | undefined> {
    const item = await this.#t.get(key(phoneId));
    return item ? settingsOf(item) : undefined;
  }

  async putHistorySwitch(phoneId: string, enabled: boolean, maxMessages: number, at: string) {
    const out = await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key(phoneId),
        UpdateExpression:
          "SET enabled = :e, maxMessages = :m, updatedAt = :at, imported = if_not_exists(imported, :zero)",
        ExpressionAttributeValues: { ":e": enabled, ":m": maxMessages, ":at": at, ":zero": 0 },
        ReturnValues: "ALL_NEW",
      }),
    );
    return settingsOf(out.Attributes ?? {});
  }

  async takeHistoryBudget(phoneId: string): Promise<boolean> {
    try {
      await this.#t.db.send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key(phoneId),
          UpdateExpression: "ADD imported :one",
          ConditionExpression: "enabled = :true AND imported < maxMessages",
          ExpressionAttributeValues: { ":one": 1, ":true": true },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async returnHistoryBudget(phoneId: string): Promise<void> {
    await this.#t.db
      .send(
        new UpdateCommand({
          TableName: this.#t.tableName,
          Key: key(phoneId),
          UpdateExpression: "ADD imported :minus",
          ConditionExpression: "imported > :zero",
          ExpressionAttributeValues: { ":minus": -1, ":zero": 0 },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  async recordHistoryProgress(
    phoneId: string,
    progress: { progress?: number; phase?: number; error?: { code?: number; message: string } },
    at: string,
  ): Promise<void> {
    const sets = [
      "updatedAt = :at",
      "enabled = if_not_exists(enabled, :false)",
      "maxMessages = if_not_exists(maxMessages, :max)",
      "imported = if_not_exists(imported, :zero)",
    ];
    const values: Record<string, unknown> = { ":at": at, ":false": false, ":max": 0, ":zero": 0 };
    for (const [field, value] of Object.entries(progress)) {
      if (value === undefined) continue;
      sets.push(`#${field} = :${field}`);
      values[`:${field}`] = value;
    }
    const names = Object.fromEntries(
      Object.keys(progress)
        .filter((f) => progress[f as keyof typeof progress] !== undefined)
        .map((f) => [`#${f}`, f]),
    );
    await this.#t.db.send(
      new UpdateCommand({
        TableName: this.#t.tableName,
        Key: key(phoneId),
        UpdateExpression: `SET ${sets.join(", ")}`,
        ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      }),
    );
  }
}

function settingsOf(item: Record<string, unknown>): HistorySettings {
  return {
    enabled: item.enabled === true,
    maxMessages: Number(item.maxMessages ?? 0),
    imported: Number(item.imported ?? 0),
    ...(typeof item.progress === "number" ? { progress: item.progress } : {}),
    ...(typeof item.phase === "number" ? { phase: item.phase } : {}),
    ...(item.error ? { error: item.error as { code?: number; message: string } } : {}),
    updatedAt: String(item.updatedAt ?? ""),
  };
}

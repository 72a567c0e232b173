import { mimeFromName } from "../domain/file-type.ts";
import type { OperatorFile, OutboundJob } from "../domain/outbound-job.ts";
import { BitrixApiError } from "../errors.ts";
import type { BitrixGateway } from "../ports/bitrix.ts";

/**
 * Files an operator's message names only by disk id (`params[FILE_ID]`, no `files[]`): `disk.file.get`
 * gives each one's name, size and download link (docs `api-reference/disk/file/disk-file-get`). What
 * Bitrix24 refuses for good (no `disk` scope, no access, deleted) comes back as a problem to tell the
 * operator, so the file never vanishes silently; passing failures are thrown for the queue to retry.
 */
export async function filesFromDisk(
  bitrix: BitrixGateway,
  job: OutboundJob,
): Promise<{ files: OperatorFile[]; problems: string[] }> {
  const files: OperatorFile[] = [];
  const problems: string[] = [];
  for (const id of job.fileIds ?? []) {
    try {
      const found = await bitrix.call<Record<string, unknown> | undefined>(job.memberId, "disk.file.get", {
        id,
      });
      const name = typeof found?.NAME === "string" && found.NAME ? found.NAME : `file-${id}`;
      const link = typeof found?.DOWNLOAD_URL === "string" ? found.DOWNLOAD_URL : "";
      if (!link) {
        problems.push(`${name}: Bitrix24 gave no download link`);
        continue;
      }
      const size = Number(found?.SIZE);
      files.push({
        name,
        link,
        mime: mimeFromName(name),
        size: Number.isFinite(size) ? size : undefined,
        privateLink: true,
      });
    } catch (error) {
      if (!(error instanceof BitrixApiError) || error.transient) throw error;
      problems.push(`file ${id}: Bitrix24 answered ${error.bitrixCode}`);
    }
  }
  return { files, problems };
}

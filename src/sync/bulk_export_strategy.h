#pragma once

// Bulk Data $export as a sync strategy (plan.h, Strategy::kBulkExport): one export job per
// resource type, at system level or for the plan's Group.
//
// The type's checkpoint is a JSON object:
//   since          transactionTime of the last completed export: the next kick-off's _since
//   since_refused  true once the site answered 400 to a kick-off with _since; every export is
//                  then a full one
//   job            the status URL of the job in progress, committed right after the kick-off,
//                  so a stopped run polls the same job again instead of starting another
//   job_since      whether that job was kicked off with _since
//   files          "output/3" or "deleted/0" -> lines committed so far, or -1 when done
//
// A run: kick off (Prefer: respond-async, _type, _since where accepted) or resume the saved
// job; poll it, waiting what Retry-After asks within [export_min_poll, export_max_poll] and
// reporting X-Progress as kExportPolled events; download the manifest's files, in parallel when
// SyncOptions::download_sources is set, reading each line by line and committing every
// page_size lines with the file's position, so a resumed run skips what is stored; tombstone
// the entries of the `deleted` files; turn the `error` files into warnings; after a full
// export (no _since), tombstone the stored ids no file listed; commit transactionTime as the
// next _since; then DELETE the job so the site can drop its files.
//
// Known shortcomings: one job per type, where a multi-type job would cost fewer kick-offs; a
// file is held in memory whole while its lines are read (the PageSource contract returns whole
// bodies); a run killed between the kick-off's answer and its commit, or between the final
// commit and the DELETE, leaves that job to the site's expiry; error files are re-read (and
// their warnings repeated) by a resumed run; a resumed full export downloads the files it already
// stored again, only to learn their ids for the deletion-by-absence check.

#include "sync/engine.h"

namespace fhirbridge::sync {

class BulkExportRun {
 public:
  BulkExportRun(PageSource& source, SyncSink& sink, ProgressObserver& progress,
                const SyncOptions& options, const TypePlan& plan, TypeOutcome& outcome);
  ~BulkExportRun();
  BulkExportRun(const BulkExportRun&) = delete;
  BulkExportRun& operator=(const BulkExportRun&) = delete;

  // Runs the export to its end or first failure; `outcome` holds the counts either way.
  base::Status Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fhirbridge::sync

import { LoggerService } from '@backstage/backend-plugin-api';
import { ServiceUnavailableError, stringifyError } from '@backstage/errors';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  PreparedPromotion,
  PreparedYank,
  PromotionPreparation,
  PromotionPreparationExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { AdapterResolver, PromotionAdapters } from './adapters';

/**
 * The preparations modules registered (demo data), run on start: those that asked for it before
 * the plugin serves, the others in the background, during which every use of the adapters
 * (lineage, plans, promotions, the board) answers 503 naming what is being prepared.
 */
export class Preparations implements PromotionPreparationExtensionPoint {
  private readonly registered: PromotionPreparation[] = [];
  private readonly pending = new Set<string>();
  private readonly failed = new Map<string, string>();
  private readonly running: Promise<void>[] = [];

  addPreparation(preparation: PromotionPreparation) {
    this.registered.push(preparation);
  }

  /** Runs the preparations; resolves once those awaited on start are done. */
  async start(options: {
    recordYank(yank: PreparedYank): Promise<void>;
    recordPromotion?(promotion: PreparedPromotion): Promise<void>;
    logger: LoggerService;
  }): Promise<void> {
    const context = {
      recordYank: options.recordYank,
      recordPromotion: options.recordPromotion,
    };
    for (const preparation of this.registered.filter(p => p.awaitOnStart)) {
      await preparation.run(context);
    }
    for (const preparation of this.registered.filter(p => !p.awaitOnStart)) {
      const { description } = preparation;
      this.pending.add(description);
      options.logger.info(`Preparing ${description} in the background`);
      const run = preparation.run(context).then(
        () => {
          this.pending.delete(description);
          options.logger.info(`Prepared ${description}`);
        },
        error => {
          this.pending.delete(description);
          this.failed.set(description, stringifyError(error));
          options.logger.error(
            `Could not prepare ${description}: ${stringifyError(error)}`,
          );
        },
      );
      this.running.push(run);
    }
  }

  /** Settles once the background preparations have finished (or failed). */
  async settled(): Promise<void> {
    await Promise.all(this.running);
  }

  /** Refuses with a 503 while a preparation runs, or after one failed. */
  check(): void {
    const [pending] = this.pending;
    if (pending) {
      throw new ServiceUnavailableError(
        `The ${pending} is being prepared; try again in a moment`,
      );
    }
    const [failed] = this.failed;
    if (failed) {
      throw new ServiceUnavailableError(
        `Preparing the ${failed[0]} failed: ${failed[1]}`,
      );
    }
  }

  /** `adapters`, answering 503 while the preparations are not done. */
  guard(adapters: AdapterResolver): AdapterResolver {
    return {
      forTarget: (target: PromotionTarget): PromotionAdapters => {
        this.check();
        return adapters.forTarget(target);
      },
    };
  }
}

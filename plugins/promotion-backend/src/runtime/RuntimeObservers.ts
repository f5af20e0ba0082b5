import {
  PromotionAdapterContext,
  PromotionRuntimeObserverExtensionPoint,
  RuntimeObserver,
  RuntimeObserverProvider,
  RuntimeSubject,
} from '@mainline/plugin-promotion-node';

/**
 * The runtime observers backend modules added (`promotionRuntimeObserverExtensionPoint`), and
 * the one that serves an entity: the first, in the order the modules registered, whose
 * observer `serves` it.
 */
export class RuntimeObservers
  implements PromotionRuntimeObserverExtensionPoint
{
  readonly providers = new Map<string, RuntimeObserverProvider>();
  private observers: Array<{ name: string; observer: RuntimeObserver }> = [];

  addRuntimeObserverProvider(provider: RuntimeObserverProvider) {
    // Two modules claiming one name would make the choice depend on their start order.
    if (this.providers.has(provider.name)) {
      throw new Error(
        `Two modules add a promotion runtime observer provider named "${provider.name}"`,
      );
    }
    this.providers.set(provider.name, provider);
  }

  /** Builds the configured observers; called once from the plugin's init. */
  create(context: PromotionAdapterContext): void {
    this.observers = [];
    for (const provider of this.providers.values()) {
      const observer = provider.create(context);
      if (observer) this.observers.push({ name: provider.name, observer });
    }
  }

  /** How many observers are configured (none: no promotion is verified). */
  get count(): number {
    return this.observers.length;
  }

  /** The observer of the entity's runtime, or undefined when none serves it. */
  forSubject(
    subject: RuntimeSubject,
  ): { name: string; observer: RuntimeObserver } | undefined {
    return this.observers.find(o => o.observer.serves(subject));
  }
}

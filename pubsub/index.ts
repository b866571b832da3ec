/** Pub/sub: topic matching with MQTT-style wildcards and the Broker abstraction. */
export {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_TOPIC_LENGTH,
  TopicKind,
  TopicTrie,
  validatePattern,
  validateTopic,
} from './topic-trie';
export type { SubscribeOptions, TopicLimits } from './topic-trie';
export { InMemoryBroker } from './broker';
export type { Broker, InMemoryBrokerOptions, SubscriptionChangeHook } from './broker';

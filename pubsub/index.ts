/** Pub/sub: topic matching with MQTT-style wildcards and the Broker abstraction. */
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_TOPIC_LENGTH, TopicKind, validatePattern, validateTopic } from './topic';
export type { SubscribeOptions, TopicLimits } from './topic';
export { TopicTrie } from './topic-trie';
export { InMemoryBroker } from './broker';
export type { Broker, InMemoryBrokerOptions, SubscriptionChangeHook } from './broker';

<?php
return [
    'backend' => ['frontName' => getenv('MAGENTO_ADMIN_PATH') ?: 'admin'],
    'crypt' => ['key' => getenv('MAGENTO_CRYPT_KEY')],
    'MAGE_MODE' => 'production',
    'db' => ['connection' => ['default' => [
        'host' => getenv('DB_HOST'),
        'dbname' => getenv('DB_NAME'),
        'username' => getenv('DB_USER'),
        'password' => getenv('DB_PASSWORD'),
        'active' => '1',
    ]]],
    'resource' => ['default_setup' => ['connection' => 'default']],
    'session' => ['save' => 'redis', 'redis' => [
        'host' => getenv('REDIS_HOST'),
        'port' => getenv('REDIS_SESSION_PORT'),
        'password' => getenv('REDIS_PASSWORD') ?: '',
        'database' => '2',
    ]],
    'cache' => ['frontend' => [
        'default' => ['backend' => 'Magento\\Framework\\Cache\\Backend\\Redis', 'backend_options' => [
            'server' => getenv('REDIS_HOST'), 'port' => getenv('REDIS_PORT'),
            'password' => getenv('REDIS_PASSWORD') ?: '', 'database' => '0',
        ]],
        'page_cache' => ['backend' => 'Magento\\Framework\\Cache\\Backend\\Redis', 'backend_options' => [
            'server' => getenv('REDIS_HOST'), 'port' => getenv('REDIS_PORT'),
            'password' => getenv('REDIS_PASSWORD') ?: '', 'database' => '1',
        ]],
    ]],
];
